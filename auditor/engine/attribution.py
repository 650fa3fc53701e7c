"""Who caused a finding: the recorded call that changed its resource. Pure.

A finding is attributed to the latest recorded change of its resource when the finding is
new, or opened after that call: a violation that was already open before someone touched
the resource was not caused by them. Drift findings with no recorded call say the actor is
unknown, rather than implying nobody did it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from auditor.model import (
    JSON,
    Attribution,
    Evaluation,
    Finding,
    Status,
    TrackedFinding,
)

DRIFT_PREFIX = "drift."
UNKNOWN_ACTOR: Mapping[str, JSON] = {
    "actor": "unknown",
    "why": "no CloudTrail event for this resource was received",
}


def changed_by(attribution: Attribution) -> dict[str, JSON]:
    """The `changed_by` evidence of a finding: who made the call that caused it, and the call."""
    return {"actor": attribution.actor, **attribution.to_json()}


def _caused(finding: Finding, attribution: Attribution, before: TrackedFinding | None) -> bool:
    return before is None or before.first_seen >= attribution.event_time


def attribute(
    evaluation: Evaluation,
    attributions: Mapping[str, Attribution],
    open_before: Mapping[str, TrackedFinding],
) -> Evaluation:
    """The evaluation with `evidence.changed_by` on the findings a recorded call caused."""
    out: list[Finding] = []
    changed = False
    for f in evaluation.findings:
        if f.status is Status.UNKNOWN:
            out.append(f)
            continue
        who = attributions.get(f.resource.arn)
        before = open_before.get(f.id)
        if who is not None and _caused(f, who, before):
            out.append(replace(f, evidence={**f.evidence, "changed_by": changed_by(who)}))
            changed = True
        elif who is None and f.rule_id.startswith(DRIFT_PREFIX):
            out.append(replace(f, evidence={**f.evidence, "changed_by": dict(UNKNOWN_ACTOR)}))
            changed = True
        else:
            out.append(f)
    return replace(evaluation, findings=tuple(out)) if changed else evaluation

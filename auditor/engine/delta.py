"""The finding lifecycle across cycles: new, still open, resolved. Pure.

A finding is open while it is fail, unknown or exempt. It is resolved when it was open and
the current cycle judged it and did not find it. "Judged" is the fail-closed subtlety:
when the current cycle could not see the finding's (rule, account, region) because of a
collection gap (the evaluation then carries a scope `unknown` finding for it), or when the
caller's `covered(finding)` says the data was not seen, the previous finding is NOT
resolved: it is carried over as `unknown`, with its first_seen, last_seen (last time it was
actually observed) and consecutive_cycles unchanged, so remediation never counts a cycle it
did not observe. Carried-over findings appear in `still_open` but not in the evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime

from auditor.model import (
    Evaluation,
    Finding,
    FindingDelta,
    Status,
    TrackedFinding,
)


def _blind_scopes(evaluation: Evaluation) -> set[tuple[str, str, str]]:
    """(rule, account, region) scopes this evaluation could not see; region may be "*"."""
    return {
        (f.rule_id, f.resource.account, f.resource.region)
        for f in evaluation.findings
        if f.status is Status.UNKNOWN and f.resource.id == "*"
    }


def _seen(finding: Finding, blind: set[tuple[str, str, str]]) -> bool:
    account = finding.resource.account
    return (finding.rule_id, account, finding.resource.region) not in blind and (
        finding.rule_id,
        account,
        "*",
    ) not in blind


def compute_delta(
    previous_open: Mapping[str, TrackedFinding],
    evaluation: Evaluation,
    now: datetime,
    *,
    covered: Callable[[Finding], bool] | None = None,
) -> FindingDelta:
    new: list[TrackedFinding] = []
    still_open: list[TrackedFinding] = []
    current: set[str] = set()
    for finding in evaluation.findings:
        current.add(finding.id)
        before = previous_open.get(finding.id)
        if before is None:
            new.append(TrackedFinding(finding, first_seen=now, last_seen=now, consecutive_cycles=1))
        else:
            still_open.append(
                TrackedFinding(
                    finding,
                    first_seen=before.first_seen,
                    last_seen=now,
                    consecutive_cycles=before.consecutive_cycles + 1,
                )
            )
    blind = _blind_scopes(evaluation)
    resolved: list[TrackedFinding] = []
    for finding_id, before in previous_open.items():
        if finding_id in current:
            continue
        old = before.finding
        seen = _seen(old, blind) and (covered is None or covered(old))
        if seen:
            resolved.append(replace(before, resolved_at=now))
            continue
        still_open.append(
            replace(
                before,
                finding=replace(
                    old,
                    status=Status.UNKNOWN,
                    message=(
                        "not re-evaluated this cycle (data not collected); "
                        f"was {old.status.value}: {old.message}"
                    ),
                    evidence={"previous_status": old.status.value, "previous": dict(old.evidence)},
                    exemption=None,
                ),
            )
        )
    return FindingDelta(new=tuple(new), still_open=tuple(still_open), resolved=tuple(resolved))

"""The finding lifecycle across cycles: new, still open, resolved. Pure.

A finding is open while it is fail, unknown or exempt. It is resolved when it was open and
the current cycle judged it and did not find it. "Judged" is the fail-closed subtlety: when
a collection gap of the current cycle hides the finding's resource (`CollectionGap.hides`,
the one rule for what a gap hides: organisation, account, region, service, kind or one
resource), the previous finding is NOT resolved, NOT exempted and NOT counted: it is
carried over as `unknown`, with its first_seen, last_seen (last time it was actually
observed) and consecutive_cycles unchanged, so remediation never counts a cycle it did not
observe. Carried-over findings appear in `still_open` but not in the evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from auditor.model import (
    JSON,
    CollectionGap,
    Evaluation,
    Finding,
    FindingDelta,
    Status,
    TrackedFinding,
    hiding_gaps,
)


def compute_delta(
    previous_open: Mapping[str, TrackedFinding],
    evaluation: Evaluation,
    now: datetime,
    *,
    gaps: Sequence[CollectionGap],
    covered: Callable[[Finding], bool] | None = None,
) -> FindingDelta:
    """`gaps` are the current cycle's collection gaps (the snapshot's). `covered` (a run
    narrowed to part of the estate) says whether the cycle looked at a finding at all:
    one it did not look at is carried over the same way."""
    new: list[TrackedFinding] = []
    still_open: list[TrackedFinding] = []
    current: set[str] = set()
    for finding in evaluation.findings:
        current.add(finding.id)
        before = previous_open.get(finding.id)
        ref = finding.resource
        if before is not None and finding.status is Status.UNKNOWN and ref.id != "*":
            hidden = hiding_gaps(gaps, ref.kind, ref.account, ref.region, ref.arn)
            if hidden:  # unknown because of a gap: not an observation (scope placeholders are)
                still_open.append(replace(before, finding=carried(before.finding, hidden)))
                continue
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
    resolved: list[TrackedFinding] = []
    for finding_id, before in previous_open.items():
        if finding_id in current:
            continue
        ref = before.finding.resource
        hidden = hiding_gaps(gaps, ref.kind, ref.account, ref.region, ref.arn)
        if hidden or (covered is not None and not covered(before.finding)):
            still_open.append(replace(before, finding=carried(before.finding, hidden)))
        else:
            resolved.append(replace(before, resolved_at=now))
    return FindingDelta(new=tuple(new), still_open=tuple(still_open), resolved=tuple(resolved))


def carry_over(
    previous_open: Mapping[str, TrackedFinding], gaps: Sequence[CollectionGap]
) -> FindingDelta:
    """The delta of a cycle that judged nothing (its evaluation failed): every open finding
    carried as unknown, none new, none resolved."""
    return FindingDelta(
        new=(),
        still_open=tuple(
            replace(t, finding=carried(t.finding, gaps)) for t in previous_open.values()
        ),
        resolved=(),
    )


def carried(old: Finding, hidden: Sequence[CollectionGap]) -> Finding:
    """A previous finding the cycle could not see: unknown, never exempt, with why. Carried
    again, it keeps what the last real observation said (not a chain of carries)."""
    last: Mapping[str, JSON] = (
        old.evidence
        if old.evidence.get("carried")
        else {
            "previous_status": old.status.value,
            "previous_message": old.message,
            "previous": dict(old.evidence),
        }
    )
    why = f"{hidden[0].operation}: {hidden[0].error_code}" if hidden else "not in this run"
    return replace(
        old,
        status=Status.UNKNOWN,
        message=(
            f"not re-evaluated this cycle ({why}); "
            f"was {last['previous_status']}: {last['previous_message']}"
        ),
        evidence={
            "carried": True,
            "previous_status": last["previous_status"],
            "previous_message": last["previous_message"],
            "previous": last["previous"],
            "gaps": [g.to_json() for g in hidden],
        },
        exemption=None,
    )

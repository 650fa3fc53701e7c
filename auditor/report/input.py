"""What a report is built from: frozen values of auditor/model.py types, and nothing else.

report/assemble.py makes one from a cycle's results (or the store's replay, for `auditor
report`); report/document.py turns it into the report.json document, from which the bundle
writer renders every format and a signed manifest. Nothing
here needs the snapshot's resources, only its metadata, so an on-demand report can be
built from the store without loading every resource again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from auditor.model import (
    JSON,
    ActionRecord,
    CollectionGap,
    Evaluation,
    FindingDelta,
    RuleInfo,
    Scope,
    Snapshot,
)


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """A snapshot's metadata: what was asked for, what could not be seen, what it cost."""

    id: str
    started_at: datetime
    finished_at: datetime
    scope: Scope
    gaps: tuple[CollectionGap, ...]
    api_calls: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, snapshot: Snapshot) -> SnapshotInfo:
        return cls(
            id=snapshot.id,
            started_at=snapshot.started_at,
            finished_at=snapshot.finished_at,
            scope=snapshot.scope,
            gaps=snapshot.gaps,
            api_calls=dict(snapshot.api_calls),
        )

    @property
    def complete(self) -> bool:
        return not self.gaps


@dataclass(frozen=True, slots=True)
class ExemptionInfo:
    """An exemption as a report shows it: in force, or expired (and so no longer applied)."""

    rule: str
    resource: str  # ARN glob
    reason: str
    owner: str
    expires: date
    expired: bool
    account: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    source: str = "config"


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One earlier report's headline numbers, for the trend chart."""

    generated_at: datetime
    score: float | None  # None when nothing could be scored
    failed: int


@dataclass(frozen=True, slots=True)
class ReportInput:
    snapshot: SnapshotInfo
    evaluation: Evaluation
    delta: FindingDelta
    rules: Mapping[str, RuleInfo]
    generated_at: datetime
    tool_version: str
    rules_version: str
    exemptions: tuple[ExemptionInfo, ...] = ()
    actions: tuple[ActionRecord, ...] = ()
    trend: tuple[TrendPoint, ...] = ()
    # account -> number of (rule, resource) checks made there; see evaluated_by_account()
    evaluated_by_account: Mapping[str, int] = field(default_factory=dict)
    since: datetime | None = None  # set for an on-demand `auditor report --since DATE`
    # mutating requests to `auditor serve` since the previous report (who, what, when)
    audit_log: tuple[Mapping[str, Any], ...] = ()
    # the event feed's state when the report was made (coverage.events); None: no feed
    events: Mapping[str, JSON] | None = None


def evaluated_by_account(snapshot: Snapshot, rules: Mapping[str, RuleInfo]) -> dict[str, int]:
    """Checks made per account: for every rule, the resources of its kind in that account.

    RuleStats count per rule, not per account; this gives the per-account denominators of the
    compliance score. Unknown findings for resources that could not be listed are added by the
    report itself, so a gap still lowers the account's score.
    """
    per_kind: Counter[tuple[str, str]] = Counter(
        (r.account, r.kind.value) for r in snapshot.resources
    )
    out: Counter[str] = Counter()
    for rule in rules.values():
        kinds = {k.value for k in rule.applies_to}
        for (account, kind), n in per_kind.items():
            if kind in kinds:
                out[account] += n
    for account in snapshot.scope.accounts:
        out.setdefault(account, 0)
    return dict(out)

"""Assemble a ReportInput from what a cycle produced (or what the store replays).

Every open finding the cycle tracks is in the report: a finding carried through a gap
(open in the store as `unknown`, not re-evaluated this cycle) is listed with status unknown
and its first_seen, and counted as evaluated-and-unknown for its rule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.engine import Exemption, RuleSet
from auditor.model import (
    JSON,
    ActionRecord,
    Clock,
    Evaluation,
    FindingDelta,
    RuleStats,
    Snapshot,
    Status,
)
from auditor.report.input import ExemptionInfo, ReportInput, SnapshotInfo, evaluated_by_account
from auditor.report.storage import trend_from_dir
from auditor.settings import Settings


def build_report_input(
    settings: Settings,
    snapshot: Snapshot,
    evaluation: Evaluation,
    delta: FindingDelta,
    rules: RuleSet,
    exemptions: tuple[Exemption, ...],
    actions: tuple[ActionRecord, ...],
    clock: Clock,
    events: Mapping[str, JSON] | None = None,
) -> ReportInput:
    """The ReportInput of a cycle: snapshot, evaluation, delta, rules, exemptions, actions."""
    now = clock.now()
    infos = {r.id: rules.info(r.id) for r in rules.rules}
    evaluation = with_carried(evaluation, delta)
    return ReportInput(
        snapshot=SnapshotInfo.of(snapshot),
        evaluation=evaluation,
        delta=delta,
        rules=infos,
        generated_at=now,
        tool_version=__version__,
        rules_version=rules.version,
        exemptions=tuple(
            ExemptionInfo(
                rule=e.rule,
                resource=e.resource,
                reason=e.reason,
                owner=e.owner,
                expires=e.expires,
                expired=e.expired(now),
                account=e.account,
                tags=dict(e.tags),
                source=e.source,
            )
            for e in exemptions
        ),
        actions=actions,
        trend=trend_from_dir(Path(settings.reports.dir)),
        evaluated_by_account=evaluated_by_account(snapshot, infos),
        events=events,
    )


def with_carried(evaluation: Evaluation, delta: FindingDelta) -> Evaluation:
    """The evaluation plus the tracked open findings it did not produce (carried as unknown)."""
    judged = {f.id for f in evaluation.findings}
    carried = [
        t.finding
        for t in (*delta.new, *delta.still_open)
        if t.id not in judged and t.finding.status is Status.UNKNOWN
    ]
    if not carried:
        return evaluation
    per_rule = Counter(f.rule_id for f in carried)
    stats = [
        replace(
            s, evaluated=s.evaluated + per_rule[s.rule_id], unknown=s.unknown + per_rule[s.rule_id]
        )
        for s in evaluation.stats
    ]
    stats += [
        RuleStats(rule_id, evaluated=n, unknown=n)
        for rule_id, n in sorted(per_rule.items())
        if rule_id not in {s.rule_id for s in evaluation.stats}
    ]
    return replace(evaluation, findings=(*evaluation.findings, *carried), stats=tuple(stats))


def previous_report_at(data: ReportInput) -> datetime | None:
    """When the report before this one was generated (None for the first)."""
    return max((p.generated_at for p in data.trend), default=None)


def with_audit_log(
    data: ReportInput, entries_since: Callable[[datetime | None], Sequence[Mapping[str, Any]]]
) -> ReportInput:
    """The report with the web app's audit log entries (mutating requests) made since the
    previous report."""
    entries = entries_since(previous_report_at(data))
    log = tuple(
        {
            "at": e["at"].isoformat().replace("+00:00", "Z"),
            "actor": e["actor"],
            "role": e["role"],
            "method": e["method"],
            "path": e["path"],
            "status": int(e["status"]),
        }
        for e in entries
    )
    return replace(data, audit_log=log)

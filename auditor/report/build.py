"""Assemble a ReportInput from what a cycle produced (or what the store replays)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.engine import Exemption, RuleSet
from auditor.model import ActionRecord, Clock, Evaluation, FindingDelta, Snapshot
from auditor.report.model import ExemptionInfo, ReportInput, SnapshotInfo, evaluated_by_account
from auditor.report.publish import trend_from_dir
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
) -> ReportInput:
    now = clock.now()
    infos = {r.id: rules.info(r.id) for r in rules.rules}
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
    )


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

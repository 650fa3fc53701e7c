"""The one module that knows the order of the stages of an audit cycle.

collect -> store -> evaluate (rules + drift) -> findings delta -> remediation plan ->
report + signature -> Slack. The CLI, the demo and the daemon only call `run_cycle`.
Database writes of one cycle are one transaction (`Store.commit_cycle`); the report bundle is
written after it (atomically, by rename) and alerts are delivered last, from the outbox, so a
Slack outage never loses an alert nor fails the cycle.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from auditor.aws import AwsSessions, client_config
from auditor.collect.base import PreviousState
from auditor.collect.runner import ProgressCallback, collect
from auditor.engine import compute_delta, evaluate, load_exemptions, load_rules
from auditor.errors import ExitCode
from auditor.model import (
    ActionRecord,
    Clock,
    Evaluation,
    FindingDelta,
    Severity,
    Snapshot,
    Status,
    SystemClock,
)
from auditor.settings import Settings
from auditor.store import CycleRecord, Store

log = structlog.get_logger("auditor.cycle")

KILL_SWITCH_ENV = "AUDITOR_REMEDIATION_KILL_SWITCH"


@dataclass(frozen=True, slots=True)
class CycleOptions:
    fail_on: Severity = Severity.HIGH
    write_report: bool = True
    send_alerts: bool = True
    remediate: bool = True
    progress: ProgressCallback | None = None
    alert_deadline_seconds: float = 30.0
    # the demo captures Slack instead of sending it; None means "from settings"
    transport: Any = None


@dataclass(frozen=True, slots=True)
class CycleResult:
    cycle_id: str
    snapshot: Snapshot
    evaluation: Evaluation
    delta: FindingDelta
    actions: tuple[ActionRecord, ...] = ()
    report_dir: Path | None = None
    alerts_sent: int = 0
    alerts_pending: int = 0
    duration_seconds: float = 0.0
    counts: Mapping[str, Any] = field(default_factory=dict)

    def exit_code(self, fail_on: Severity) -> ExitCode:
        """3 when collection was incomplete (the result cannot be trusted as a pass), else 1
        when a failing finding is at or above `fail_on`, else 0."""
        if not self.snapshot.complete:
            return ExitCode.INCOMPLETE
        if any(
            f.status is Status.FAIL and f.severity.at_least(fail_on)
            for f in self.evaluation.findings
        ):
            return ExitCode.VIOLATIONS
        return ExitCode.OK


def kill_switch_engaged(settings: Settings) -> bool:
    return settings.remediation.kill_switch or os.environ.get(KILL_SWITCH_ENV, "").lower() in (
        "1",
        "true",
        "yes",
        "on",
    )


def run_cycle(
    settings: Settings,
    *,
    clock: Clock | None = None,
    sessions: AwsSessions | None = None,
    store: Store | None = None,
    options: CycleOptions | None = None,
) -> CycleResult:
    """Run one full audit cycle and return what it found and did."""
    clock = clock or SystemClock()
    options = options or CycleOptions()
    began = time.perf_counter()
    # Bad rules or exemptions fail before any AWS call or database write (exit 2).
    rules = load_rules(settings.rules)
    exemptions = load_exemptions(settings)
    own_store = store is None
    store = store or Store.open(settings.store)
    try:
        sessions = sessions or AwsSessions(config=client_config(settings.collect.max_attempts))
        previous = store.latest_snapshot()
        snapshot = collect(
            settings, sessions, clock, PreviousState.from_snapshot(previous), options.progress
        )
        evaluation = evaluate(snapshot, rules, exemptions, clock)
        now = clock.now()
        delta = compute_delta(store.open_findings(), evaluation, now)
        tracked = delta.new + delta.still_open + delta.resolved

        actions: tuple[ActionRecord, ...] = ()
        if options.remediate and settings.remediation.mode != "off":
            actions = _remediate(settings, snapshot, delta, rules, store, sessions, clock)

        store.commit_cycle(
            CycleRecord(
                snapshot=snapshot,
                evaluation=evaluation,
                tracked=tracked,
                actions=actions,
            )
        )
        result = CycleResult(
            cycle_id=snapshot.id,
            snapshot=snapshot,
            evaluation=evaluation,
            delta=delta,
            actions=actions,
            duration_seconds=time.perf_counter() - began,
        )
        result = _with_counts(result)
        _log_cycle(result)
        return result
    finally:
        if own_store:
            store.close()


def _remediate(
    settings: Settings,
    snapshot: Snapshot,
    delta: FindingDelta,
    rules: Any,
    store: Store,
    sessions: AwsSessions,
    clock: Clock,
) -> tuple[ActionRecord, ...]:
    from datetime import timedelta

    from auditor.aws import Target
    from auditor.model import SnapshotView
    from auditor.remediate.executor import execute
    from auditor.remediate.planner import plan

    now = clock.now()
    infos = {r.id: rules.info(r.id) for r in rules.rules}
    history = store.actions_since(now - timedelta(days=1))
    planned = plan(
        delta.open,
        SnapshotView(snapshot),
        infos,
        settings.remediation,
        history,
        now,
        snapshot.id,
        kill_switch_engaged(settings),
    )
    role_of = {a.id: a.role_arn for a in settings.accounts}

    def client_for(account: str, region: str, service: str) -> Any:
        return sessions.client(Target(account, role_of.get(account)), service, region)

    return tuple(execute(planned, client_for, settings.remediation.mode, clock))


def _with_counts(result: CycleResult) -> CycleResult:
    by_severity = Counter(
        f.severity.value for f in result.evaluation.findings if f.status is Status.FAIL
    )
    by_status = Counter(f.status.value for f in result.evaluation.findings)
    by_kind = Counter(r.kind.value for r in result.snapshot.resources)
    counts = {
        "resources": len(result.snapshot.resources),
        "resources_by_kind": dict(sorted(by_kind.items())),
        "api_calls": result.snapshot.total_api_calls,
        "gaps": len(result.snapshot.gaps),
        "findings_by_severity": dict(by_severity),
        "findings_by_status": dict(by_status),
        "new": len(result.delta.new),
        "open": len(result.delta.open),
        "resolved": len(result.delta.resolved),
        "actions": dict(Counter(a.status.value for a in result.actions)),
    }
    return CycleResult(
        cycle_id=result.cycle_id,
        snapshot=result.snapshot,
        evaluation=result.evaluation,
        delta=result.delta,
        actions=result.actions,
        report_dir=result.report_dir,
        alerts_sent=result.alerts_sent,
        alerts_pending=result.alerts_pending,
        duration_seconds=result.duration_seconds,
        counts=counts,
    )


def _log_cycle(result: CycleResult) -> None:
    """The canonical line: one per cycle, everything an operator greps for."""
    c = result.counts
    log.info(
        "cycle",
        cycle_id=result.cycle_id,
        duration_s=round(result.duration_seconds, 3),
        resources=c.get("resources"),
        api_calls=c.get("api_calls"),
        gaps=c.get("gaps"),
        complete=result.snapshot.complete,
        findings_new=c.get("new"),
        findings_open=c.get("open"),
        findings_resolved=c.get("resolved"),
        alerts_sent=result.alerts_sent,
        alerts_pending=result.alerts_pending,
        actions=c.get("actions"),
        report=str(result.report_dir) if result.report_dir else None,
    )


ProgressFactory = Callable[[], ProgressCallback]

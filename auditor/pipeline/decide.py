"""Stage 3, decide: the remediation plan and the alert messages (both pure planning).

Nothing is done here: the plan and the messages are committed with the cycle (stage 4)
before any action is taken (stage 5) or any alert is sent (stage 7).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from auditor.model import ActionRecord, CollectionGap, FindingDelta, Snapshot, SnapshotView
from auditor.notify import GAPS, active_destinations, coverage_alert_key, subscriptions
from auditor.pipeline.values import AlertPlan, CycleContext, Decided, Judged
from auditor.remediate.approvals import gate
from auditor.remediate.executor import execute, kill_switch_engaged, session_client_for
from auditor.remediate.plan import Plan
from auditor.remediate.planner import plan
from auditor.report.bundle import new_report_id
from auditor.report.links import report_url
from auditor.stage_guard import StageGuard
from auditor.store import Store


def decide(ctx: CycleContext, guard: StageGuard, judged: Judged) -> Decided:
    """The plan and the messages; a crash in either is a gap that hides nothing."""
    off = Plan(cycle_id=judged.snapshot.id, mode="off")
    decided = off
    if remediating(ctx):
        decided = guard.run(
            "remediation",
            lambda: remediation_plan(ctx, judged.snapshot, judged.delta, judged.now),
            lambda: off,
            hides=False,
        )
    actions = guard.run(
        "remediation", lambda: recorded_actions(ctx, decided), _no_actions, hides=False
    )
    snapshot = guard.seal(judged.snapshot)
    report_id = new_report_id(judged.now)
    url = report_url(ctx.settings.reports, report_id)
    alerts = alert_plan(ctx, judged.delta, snapshot.gaps, url, judged.now, coverage=True)
    messages = (
        guard.run("alerts", lambda: alerts.messages(actions), _nothing, hides=False)
        if alerts is not None
        else ()
    )
    return Decided(
        guard.seal(snapshot),
        decided,
        actions,
        messages,
        alerts,
        report_id if ctx.signer is not None else None,
        enforcing(ctx, decided),
    )


def remediating(ctx: CycleContext) -> bool:
    return ctx.options.remediate and ctx.settings.remediation.mode != "off"


def enforcing(ctx: CycleContext, decided: Plan) -> bool:
    """Whether stage 5 makes AWS calls: enforce mode with something planned."""
    return ctx.settings.remediation.mode == "enforce" and bool(decided.planned)


def remediation_plan(
    ctx: CycleContext, snapshot: Snapshot, delta: FindingDelta, now: datetime
) -> Plan:
    """What remediation would do (limits, windows, the kill switch, approvals applied)."""
    store, config = ctx.store, ctx.settings.remediation
    decided = plan(
        delta.open,
        SnapshotView(snapshot),
        ctx.infos,
        config,
        store.actions_since(now - timedelta(days=1)),
        now,
        snapshot.id,
        kill_switch_engaged(config),
    )
    open_by_id = {t.id: t for t in delta.open}
    return gate(decided, config.require_approval, open_by_id, store.open_decisions())


def recorded_actions(ctx: CycleContext, decided: Plan) -> tuple[ActionRecord, ...]:
    """The action records committed with the cycle: planned (enforce: executed in stage 5)
    or stamped as a dry run (the executor makes no call)."""
    return decided.records if enforcing(ctx, decided) else execute_plan(ctx, decided)


def execute_plan(ctx: CycleContext, decided: Plan) -> tuple[ActionRecord, ...]:
    roles = {a.id: a.role_arn for a in ctx.settings.accounts}
    client_for = session_client_for(ctx.sessions, roles)
    return tuple(execute(decided, client_for, ctx.settings.remediation.mode, ctx.clock))


def alert_plan(
    ctx: CycleContext,
    delta: FindingDelta,
    gaps: tuple[CollectionGap, ...],
    url: str | None,
    now: datetime,
    *,
    coverage: bool = False,
) -> AlertPlan | None:
    """How to plan this cycle's alerts; None when no channel listens (or alerts are off).
    `coverage`: remind of coverage alerts from when each was first queued."""
    settings, also = ctx.settings, subscriptions(ctx.settings)
    listening = ctx.options.transport is not None or active_destinations(settings.slack, also)
    if not (ctx.options.send_alerts and listening):
        return None
    first = coverage_alert_times(ctx.store) if coverage else {}
    return AlertPlan(delta, gaps, ctx.infos, settings.slack, also, url, now, first)


def coverage_alert_times(store: Store) -> dict[str, datetime]:
    """When each coverage alert was first queued, by its stable key."""
    out: dict[str, datetime] = {}
    for key, queued in store.outbox().first_queued(f"{GAPS}:").items():
        base = coverage_alert_key(key)
        if base is not None and (base not in out or queued < out[base]):
            out[base] = queued
    return out


def _nothing() -> tuple[Any, ...]:
    return ()


def _no_actions() -> tuple[ActionRecord, ...]:
    return ()

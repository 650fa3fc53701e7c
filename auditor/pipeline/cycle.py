"""`run_cycle`: the stages of one audit cycle, in order.

    collect -> evaluate -> decide -> commit -> act -> publish -> deliver

Each stage returns a frozen value (`pipeline.values`). After collection a crashing stage is
a coverage gap with a safe fallback (`stage_guard`), never a lost cycle. Database writes are
one transaction (commit); the report chain stays locked from before the commit until the
report is recorded; alerts go out last, from the outbox, so a channel outage never loses an
alert nor fails the cycle.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace

import structlog

from auditor.aws import AwsSessions
from auditor.collect.runner import collect_client_config
from auditor.iac.rules import declared_services
from auditor.model import ActionRecord, Clock, Status, SystemClock
from auditor.pipeline.act import act
from auditor.pipeline.collect import collect_estate
from auditor.pipeline.commit import commit
from auditor.pipeline.decide import decide
from auditor.pipeline.deliver import deliver
from auditor.pipeline.judge import judge
from auditor.pipeline.preflight import preflight, with_requested
from auditor.pipeline.publish import publish, report_chain
from auditor.pipeline.values import (
    CycleContext,
    CycleOptions,
    CycleResult,
    Decided,
    Delivered,
    Judged,
    Publication,
)
from auditor.settings import Settings
from auditor.stage_guard import StageGuard
from auditor.store import Store

log = structlog.get_logger("auditor.cycle")


def run_cycle(
    settings: Settings,
    *,
    clock: Clock | None = None,
    sessions: AwsSessions | None = None,
    store: Store | None = None,
    options: CycleOptions | None = None,
) -> CycleResult:
    """Run one full audit cycle and return what it found and did."""
    began = time.perf_counter()
    with cycle_context(settings, clock, sessions, store, options) as ctx:
        collected = collect_estate(ctx)
        guard = StageGuard((*settings.services, *declared_services(settings.iac)))
        judged = judge(ctx, guard, collected)
        decided = decide(ctx, guard, judged)
        with report_chain(ctx) as chain:
            commit(ctx, judged, decided)
            actions = act(ctx, decided)
            published = publish(ctx, chain, judged, decided, actions)
        delivered = deliver(ctx, alerting=decided.alerts is not None)
        if published.error is not None:
            raise published.error
        result = _result(ctx, judged, decided, actions, published, delivered, began)
        _log_cycle(result)
        return result


@contextmanager
def cycle_context(
    settings: Settings,
    clock: Clock | None = None,
    sessions: AwsSessions | None = None,
    store: Store | None = None,
    options: CycleOptions | None = None,
) -> Iterator[CycleContext]:
    """Preflight (exit 2 before any AWS call or write), then the store (closed after, if
    opened here) and the exemptions approved through the API."""
    clock = clock or SystemClock()
    options = options or CycleOptions()
    sessions = sessions or AwsSessions(config=collect_client_config(settings))
    checked = preflight(settings, sessions, write_report=options.write_report, clock=clock)
    opened = store or Store.open(settings.store)
    try:
        exemptions = with_requested(checked.exemptions, opened, clock.now().date())
        yield CycleContext(
            settings, clock, sessions, opened, options, checked.rules, exemptions, checked.signer
        )
    finally:
        if store is None:
            opened.close()


def _result(
    ctx: CycleContext,
    judged: Judged,
    decided: Decided,
    actions: tuple[ActionRecord, ...],
    published: Publication,
    delivered: Delivered,
    began: float,
) -> CycleResult:
    snapshot = decided.snapshot  # with the gaps of any stage that crashed
    result = CycleResult(
        cycle_id=snapshot.id,
        snapshot=snapshot,
        evaluation=judged.evaluation,
        delta=judged.delta,
        actions=actions,
        report_dir=published.report_dir,
        alerts_sent=delivered.sent,
        alerts_pending=delivered.pending,
        duration_seconds=time.perf_counter() - began,
    )
    return replace(result, counts=_counts(result, ctx.sessions.counter.errors))


def _counts(result: CycleResult, api_errors: Mapping[str, int]) -> dict[str, object]:
    findings = result.evaluation.findings
    by_severity = Counter(f.severity.value for f in findings if f.status is Status.FAIL)
    by_kind = Counter(r.kind.value for r in result.snapshot.resources)
    return {
        "resources": len(result.snapshot.resources),
        "resources_by_kind": dict(sorted(by_kind.items())),
        "api_calls": result.snapshot.total_api_calls,
        "gaps": len(result.snapshot.gaps),
        "findings_by_severity": dict(by_severity),
        "findings_by_status": dict(Counter(f.status.value for f in findings)),
        "new": len(result.delta.new),
        "open": len(result.delta.open),
        "resolved": len(result.delta.resolved),
        "actions": dict(Counter(a.status.value for a in result.actions)),
        "api_errors": dict(api_errors),
    }


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

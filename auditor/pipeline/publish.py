"""Stage 6, publish: the cycle's signed report, appended to the report chain under its lock.

Also the on-demand reports (`auditor report`, the daemon's report schedule, the chain's
repair of a report that was never written): the latest stored cycle replayed through the
same evaluation (`judge.evaluate_snapshot`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor.aws import AwsSessions
from auditor.engine import Exemption, RuleSet, load_exemptions, load_rules
from auditor.model import (
    ActionRecord,
    Clock,
    Evaluation,
    FindingDelta,
    FixedClock,
    Status,
    SystemClock,
    TrackedFinding,
)
from auditor.pipeline.judge import evaluate_snapshot
from auditor.pipeline.preflight import cycle_rules, with_requested
from auditor.pipeline.values import CycleContext, Decided, Judged, Publication
from auditor.report.assemble import build_report_input, with_audit_log
from auditor.report.aws_clients import kms_factory
from auditor.report.chain import Published, ReportChain
from auditor.report.errors import ReportError, ReportWriteError
from auditor.report.input import ReportInput
from auditor.report.signing import signer_from_settings
from auditor.settings import Settings
from auditor.store import ChainEntry, CycleSummary, Store


@contextmanager
def report_chain(ctx: CycleContext) -> Iterator[ReportChain | None]:
    """The report chain, locked from before the cycle's commit until its report is recorded:
    a report the ledger still calls pending then has no live writer, and is repaired first."""
    if ctx.signer is None:
        yield None
        return
    settings, store, clock = ctx.settings, ctx.store, ctx.clock
    chain = ReportChain(store, settings, ctx.sessions, clock, ctx.signer, ctx.options.report_disk)
    with chain.locked():
        chain.repair(
            lambda e: with_audit_log(
                report_input(settings, clock=clock, store=store, cycle=e), store.audit_since
            )
        )
        yield chain


def publish(
    ctx: CycleContext,
    chain: ReportChain | None,
    judged: Judged,
    decided: Decided,
    actions: tuple[ActionRecord, ...],
) -> Publication:
    """The cycle's report (an attestation when nothing changed, unless `full_report`); a
    write failure is returned, to be raised after the alerts went out (a full disk delays
    no alert; the ledger already marks the report failed)."""
    if chain is None or decided.report_id is None:
        return Publication()
    data = build_report_input(
        ctx.settings,
        decided.snapshot,
        judged.evaluation,
        judged.delta,
        ctx.rules,
        ctx.exemptions,
        actions,
        ctx.clock,
        events=ctx.options.events_coverage,
    )
    try:
        published = chain.publish(
            with_audit_log(data, ctx.store.audit_since),
            report_id=decided.report_id,
            cycle_id=decided.snapshot.id,
            attest_if_unchanged=not ctx.options.full_report,
        )
    except ReportWriteError as exc:
        return Publication(error=exc)
    return Publication(report_dir=published.bundle.path)


def report_input(
    settings: Settings,
    *,
    since: datetime | None = None,
    clock: Clock | None = None,
    store: Store | None = None,
    cycle: ChainEntry | None = None,
) -> ReportInput:
    """An on-demand report from the latest stored cycle (`auditor report`, the daemon's report
    schedule): the stored snapshot re-evaluated with the current rules (evaluation is pure,
    so this is a replay), with each finding's stored history. Findings first seen at or
    after `since` are the report's "new"; findings resolved in that window are not listed.

    With `cycle` (the report chain's repair of a report that was never written): that cycle
    must still be the latest, and it is evaluated at its own evaluation time."""
    clock = clock or SystemClock()
    rules = cycle_rules(load_rules(settings.rules), settings)
    exemptions = load_exemptions(settings)
    own_store = store is None
    store = store or Store.open(settings.store)
    try:
        exemptions = with_requested(exemptions, store, clock.now().date())
        return _replayed(settings, store, clock, rules, exemptions, since, cycle)
    finally:
        if own_store:
            store.close()


def _replayed(
    settings: Settings,
    store: Store,
    clock: Clock,
    rules: RuleSet,
    exemptions: tuple[Exemption, ...],
    since: datetime | None,
    cycle: ChainEntry | None,
) -> ReportInput:
    cycles = _latest_cycles(store, cycle)
    judged_at: Clock = clock
    if cycle is not None:
        judged_at = FixedClock(cycles[0].evaluated_at or cycles[0].finished_at)
    snapshot = store.load_snapshot(cycles[0].id)
    previous = store.load_snapshot(cycles[1].id) if len(cycles) > 1 else None
    stored = store.open_findings()
    evaluation = evaluate_snapshot(
        settings, store, rules, exemptions, judged_at, snapshot, previous, stored
    )
    new, rest = _tracked(evaluation, stored, judged_at.now(), since)
    decided = {a.id: a for a in store.current_decisions()}
    decided.update({a.id: a for a in store.actions_since(snapshot.started_at)})
    actions = tuple(sorted(decided.values(), key=lambda a: (a.at, a.id)))
    data = build_report_input(
        settings,
        snapshot,
        evaluation,
        FindingDelta(new=new, still_open=rest, resolved=()),
        rules,
        exemptions,
        actions,
        clock,
    )
    return replace(data, since=since)


def _latest_cycles(store: Store, cycle: ChainEntry | None) -> list[CycleSummary]:
    """The latest two cycles; with `cycle`, it must still be the latest."""
    cycles = store.list_cycles(limit=2)
    if not cycles:
        raise ReportError("no cycle in the store yet: run `auditor scan` first")
    if cycle is not None and cycles[0].id != cycle.cycle_id:
        raise ReportError(
            f"cycle {cycle.cycle_id} is no longer the latest cycle (the latest is "
            f"{cycles[0].id}): its findings have moved on"
        )
    return cycles


def _tracked(
    evaluation: Evaluation,
    stored: Mapping[str, TrackedFinding],
    now: datetime,
    since: datetime | None,
) -> tuple[tuple[TrackedFinding, ...], tuple[TrackedFinding, ...]]:
    """(new since `since`, the rest): each finding with its stored history; open in the store
    but not re-evaluated (carried as unknown through a gap): listed too."""
    tracked = [
        replace(stored[f.id], finding=f) if f.id in stored else TrackedFinding(f, now, now, 1)
        for f in evaluation.findings
    ]
    judged = {f.id for f in evaluation.findings}
    tracked += [
        t
        for fid, t in sorted(stored.items())
        if fid not in judged and t.finding.status is Status.UNKNOWN
    ]
    new = tuple(t for t in tracked if since is not None and t.first_seen >= since)
    return new, tuple(t for t in tracked if t not in new)


def publish_latest(
    settings: Settings,
    store: Store,
    clock: Clock,
    sessions: AwsSessions | None = None,
    events_coverage: Mapping[str, Any] | None = None,
) -> Path:
    """Sign and publish a report of the latest cycle now (the report schedule)."""
    return publish_on_demand(
        settings, store, clock, sessions, events_coverage=events_coverage
    ).bundle.path


def publish_on_demand(
    settings: Settings,
    store: Store,
    clock: Clock,
    sessions: AwsSessions | None = None,
    since: datetime | None = None,
    events_coverage: Mapping[str, Any] | None = None,
) -> Published:
    """A report of the latest cycle, appended to the store's chain under its lock."""
    sessions = sessions or AwsSessions()
    signer = signer_from_settings(settings, kms_factory(sessions))
    data = report_input(settings, since=since, clock=clock, store=store)
    if events_coverage is not None:
        data = replace(data, events=events_coverage)
    with ReportChain(store, settings, sessions, clock, signer).locked() as chain:
        return chain.publish(data)

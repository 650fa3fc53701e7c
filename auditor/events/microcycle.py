"""A micro-cycle: the pipeline's stages for only the resources a batch of events names.

re-collect the named resources -> merge them into the latest snapshot -> evaluate them (the
whole snapshot visible to checks) -> delta over exactly those resources -> remediation plan
-> one transaction (snapshot, findings, actions, alerts and the events used) -> alerts.

Fail closed: the delta only opens, keeps or resolves findings on resources this micro-cycle
re-collected (or confirmed gone). Findings elsewhere are untouched, however related. The
committed snapshot is the latest one with the re-collected resources replaced, so the next
cycle (micro or full) compares with the freshest state and the store's history stays linear.
"""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from auditor.aws import AwsSessions
from auditor.collect.base import AWS_ERRORS
from auditor.collect.ecr_images_in_use import cache_entries
from auditor.engine import compute_delta, evaluate
from auditor.engine.attribution import attribute
from auditor.engine.history import baseline_kinds, build_history
from auditor.events.parse import EventTarget, ParsedEvent
from auditor.events.targets import Recollected, recollect
from auditor.model import (
    AccessRecord,
    Attribution,
    Clock,
    FindingDelta,
    Snapshot,
    SnapshotView,
    SystemClock,
    finding_id,
)
from auditor.pipeline import (
    CycleContext,
    CycleOptions,
    CycleResult,
    Decided,
    Preflight,
    alert_plan,
    enforcing,
    preflight,
    recorded_actions,
    remediating,
    remediation_plan,
)
from auditor.pipeline.act import act
from auditor.pipeline.deliver import deliver
from auditor.remediate.plan import Plan
from auditor.settings import Settings
from auditor.store import CycleRecord, EventRecord, Store

log = structlog.get_logger("auditor.events")


@dataclass(frozen=True, slots=True)
class Received:
    """A parsed event and when its message was received (latency is measured from it)."""

    event: ParsedEvent
    received_at: datetime


@dataclass(frozen=True, slots=True)
class MicroResult:
    done: tuple[str, ...]  # event ids whose messages may be deleted (committed, or redelivered)
    retry: tuple[str, ...]  # event ids left on the queue: a target could not be re-described
    cycle: CycleResult | None = None
    duplicates: int = 0  # events already handled by an earlier cycle


class MicroCycler:
    """Runs micro-cycles; keeps the rules and the latest snapshot between them."""

    def __init__(
        self,
        settings: Settings,
        *,
        sessions: AwsSessions,
        clock: Clock | None = None,
        options: CycleOptions | None = None,
        checked: Preflight | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock or SystemClock()
        self.options = options or CycleOptions(write_report=False)
        self.checked = checked or preflight(settings, sessions, write_report=False)
        self._base: Snapshot | None = None
        self._caller: str | None = None

    def _latest(self, store: Store) -> Snapshot | None:
        """The latest committed snapshot; re-read only when another cycle committed since."""
        cycles = store.list_cycles(limit=1)
        if not cycles:
            return None
        if self._base is None or self._base.id != cycles[0].id:
            self._base = store.load_snapshot(cycles[0].id)
        return self._base

    def _caller_account(self) -> str | None:
        if self._caller is None and self.settings.organization is not None:
            try:
                self._caller = self.sessions.caller_account()
            except AWS_ERRORS:
                return None
        return self._caller

    def run(self, store: Store, batch: Sequence[Received]) -> MicroResult:
        """One micro-cycle over a batch. The cyclic GC is paused meanwhile: with the latest
        snapshot alive it would rescan it over and over (seconds on a large estate); it
        catches up between batches."""
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._run(store, batch)
        finally:
            if was_enabled:
                gc.enable()

    def _run(self, store: Store, batch: Sequence[Received]) -> MicroResult:
        began = time.perf_counter()
        unique = {r.event.event_id: r for r in batch}
        seen = store.handled_events(unique)
        fresh = [r for r in unique.values() if r.event.event_id not in seen]
        duplicates = len(
            seen
        )  # handled before (a redelivery); the feed counts repeats within a batch
        if not fresh:
            return MicroResult(done=tuple(unique), retry=(), duplicates=duplicates)
        base = self._latest(store)
        if base is None:  # no full cycle yet: nothing to merge into; the events wait
            return MicroResult(done=tuple(seen), retry=tuple(r.event.event_id for r in fresh))
        calls_before = dict(self.sessions.counter.calls)
        targets = [t for r in fresh for t in r.event.targets]
        rec = recollect(
            targets, SnapshotView(base), self.settings, self.sessions, self.clock,
            self._caller_account(), store.image_contents,
        )  # fmt: skip
        failed = set(rec.failed)
        retry = [r for r in fresh if failed.intersection(r.event.targets)]
        used = [r for r in fresh if r not in retry]
        calls = {
            k: v - calls_before.get(k, 0)
            for k, v in self.sessions.counter.calls.items()
            if v - calls_before.get(k, 0)
        }
        # nothing audited here (no target in scope): no cycle to commit, nothing to remember
        relevant = bool(rec.scope or rec.units)
        result = self._commit(store, base, rec, used, calls, began) if used and relevant else None
        return MicroResult(
            done=tuple(seen) + tuple(r.event.event_id for r in used),
            retry=tuple(r.event.event_id for r in retry),
            cycle=result,
            duplicates=duplicates,
        )

    def _commit(
        self,
        store: Store,
        base: Snapshot,
        rec: Recollected,
        used: Sequence[Received],
        calls: Mapping[str, int],
        began: float,
    ) -> CycleResult:
        settings, clock, options = self.settings, self.clock, self.options
        rules, exemptions = self.checked.rules, self.checked.exemptions
        started = clock.now()
        snapshot = merged(base, rec, started, clock.now(), calls)
        scoped = frozenset(
            r.arn for r in snapshot.resources if rec.covers(r.kind, r.account, r.region, r.arn)
        )
        watched = baseline_kinds(rules)
        versions = store.baselines([r.arn for r in rec.resources if r.kind in watched])
        history = build_history(versions, base)
        if settings.events.enabled:
            history = replace(history, access=_with_new_access(store, used))
        evaluation = evaluate(snapshot, rules, exemptions, clock, history=history, only=scoped)
        now = clock.now()
        # the findings this micro-cycle may touch: (rule, resource) of everything in scope
        covered = [r for r in base.resources if rec.covers(r.kind, r.account, r.region, r.arn)]
        candidates = {
            finding_id(rule.id, r.arn)
            for r in (*covered, *rec.resources)
            for rule in rules.by_kind.get(r.kind, ())
        }
        open_before = store.open_findings(candidates)
        in_scope = {
            fid: t
            for fid, t in open_before.items()
            if rec.covers(
                t.finding.resource.kind, t.finding.resource.account,
                t.finding.resource.region, t.finding.resource.arn,
            )
        }  # fmt: skip
        view = SnapshotView(snapshot)
        who = _with_new_attributions(store, scoped, used, view)
        evaluation = attribute(evaluation, who, open_before)
        delta = compute_delta(in_scope, evaluation, now, gaps=snapshot.gaps)
        ctx = CycleContext(settings, clock, self.sessions, store, options, rules, exemptions)
        decided = self._decide(ctx, snapshot, delta, now)
        store.commit_cycle(  # after the lease check (store.fence)
            CycleRecord(
                snapshot=snapshot,
                evaluation=evaluation,
                tracked=delta.new + delta.still_open + delta.resolved,
                actions=decided.actions,
                outbox=decided.messages,
                metadata={
                    "micro": True,
                    "events": len(used),
                    "base": base.id,
                    "recollected": len(rec.resources),
                    "scope": len(scoped),
                },
                events=tuple(_record(r, view) for r in used),
                image_contents=cache_entries(rec.resources),
            )
        )
        self._base = snapshot
        actions = act(ctx, decided)
        delivered = deliver(ctx, alerting=decided.alerts is not None)
        result = CycleResult(
            cycle_id=snapshot.id,
            snapshot=snapshot,
            evaluation=evaluation,
            delta=delta,
            actions=actions,
            alerts_sent=delivered.sent,
            alerts_pending=delivered.pending,
            duration_seconds=time.perf_counter() - began,
            counts={"events": len(used), "recollected": len(rec.resources)},
        )
        log.info(
            "micro_cycle",
            cycle_id=snapshot.id,
            events=len(used),
            recollected=len(rec.resources),
            scope=len(scoped),
            api_calls=sum(calls.values()),
            findings_new=len(delta.new),
            findings_resolved=len(delta.resolved),
            duration_s=round(result.duration_seconds, 3),
        )
        return result

    @staticmethod
    def _decide(
        ctx: CycleContext, snapshot: Snapshot, delta: FindingDelta, now: datetime
    ) -> Decided:
        """The remediation plan and the alerts of the resources in scope (no coverage alerts:
        the full cycle owns those)."""
        decided = Plan(cycle_id=snapshot.id, mode="off")
        if remediating(ctx):
            decided = remediation_plan(ctx, snapshot, delta, now)
        actions = recorded_actions(ctx, decided)
        alerts = alert_plan(ctx, delta, (), None, now)
        messages = alerts.messages(actions) if alerts is not None else ()
        return Decided(snapshot, decided, actions, messages, alerts, None, enforcing(ctx, decided))


def merged(
    base: Snapshot,
    rec: Recollected,
    started: datetime,
    finished: datetime,
    calls: Mapping[str, int],
) -> Snapshot:
    """The latest snapshot with the re-collected resources in place of what they replace."""
    kept = [r for r in base.resources if not rec.covers(r.kind, r.account, r.region, r.arn)]
    fresh_arns = {r.arn for r in rec.resources}
    gaps = [
        g
        for g in base.gaps
        if g.resource_arn is None or g.resource_arn not in (rec.scope | fresh_arns)
    ]
    gaps.extend(g for g in rec.gaps if g.resource_arn is not None)
    return Snapshot(
        id=f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}-e",
        started_at=started,
        finished_at=finished,
        scope=base.scope,
        resources=tuple(sorted([*kept, *rec.resources], key=lambda r: (r.kind.value, r.arn))),
        gaps=tuple(gaps),
        api_calls=dict(sorted(calls.items())),
    )


def _with_new_access(store: Store, used: Sequence[Received]) -> dict[str, tuple[AccessRecord, ...]]:
    access = {k: list(v) for k, v in store.access_records().items()}
    for r in used:
        for a in r.event.access:
            mine = access.setdefault(a.target_arn, [])
            if all(x.attribution.event_id != a.attribution.event_id for x in mine):
                mine.append(a)
    return {
        k: tuple(sorted(v, key=lambda a: (a.attribution.event_time, a.attribution.event_id)))
        for k, v in access.items()
    }


def _with_new_attributions(
    store: Store, scoped: frozenset[str], used: Sequence[Received], view: SnapshotView
) -> dict[str, Attribution]:
    who = store.attributions(scoped)
    for r in used:
        a = r.event.attribution
        if a is None or r.event.access:
            continue
        for t in r.event.targets:
            for arn in _arns_of(t, view):
                if arn not in scoped:
                    continue
                current = who.get(arn)
                if current is None or (current.event_time, current.event_id) < (
                    a.event_time,
                    a.event_id,
                ):
                    who[arn] = a  # the latest call wins, whatever the order of arrival
    return who


def _arns_of(target: EventTarget, view: SnapshotView) -> list[str]:
    if target.arn is not None:
        return [target.arn]
    found = view.find(target.kind, target.account, target.region, target.id)
    return [found.arn] if found is not None else []


def _record(r: Received, view: SnapshotView) -> EventRecord:
    event = r.event
    arns = {arn for t in event.targets for arn in _arns_of(t, view)}
    return EventRecord(
        event_id=event.event_id,
        detail_type=event.detail_type,
        event_name=event.event_name,
        account=event.account,
        region=event.region,
        received_at=r.received_at,
        arns=tuple(sorted(arns)),
        attribution=event.attribution,
        access=event.access,
    )

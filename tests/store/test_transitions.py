"""Contract: the store grows with change, not with time.

A finding still observed unchanged costs no row and no event; its last_seen and
consecutive_cycles follow the latest cycle. Transitions (status, severity, exemption start
and end, resolution) are events. A remediation decision taken again is not recorded again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import sqlalchemy as sa

from auditor.model import (
    ActionRecord,
    ActionStatus,
    Evaluation,
    ExemptionRef,
    Severity,
    Status,
    TrackedFinding,
)
from auditor.store import CycleRecord, FindingEventKind, Store
from tests.store.builders import ACCOUNT, REGION, T0, instance, snapshot, tracked

STEP = timedelta(minutes=15)


def _at(n: int) -> datetime:
    return T0 + n * STEP


def _commit(
    store: Store,
    n: int,
    found: tuple[TrackedFinding, ...],
    *,
    observed: tuple[TrackedFinding, ...] | None = None,
    actions: tuple[ActionRecord, ...] = (),
) -> None:
    """Cycle `n` at _at(n): the evaluation judged `observed` (default: every open finding)."""
    seen = found if observed is None else observed
    evaluation = Evaluation(
        snapshot_id=f"c{n}",
        evaluated_at=_at(n),
        findings=tuple(t.finding for t in seen if t.resolved_at is None),
        stats=(),
    )
    store.commit_cycle(
        CycleRecord(
            snapshot=snapshot(f"c{n}", (instance(1),), at=_at(n)),
            evaluation=evaluation,
            tracked=found,
            actions=actions,
            seen_at=_at(n),
        )
    )


def _count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(sa.text(f"SELECT COUNT(*) FROM {table}")) or 0)  # noqa: S608


def _findings_written(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            str(i): int(o)
            for i, o in conn.execute(sa.text("SELECT id, seen_ordinal FROM findings"))
        }


def test_unchanged_cycles_write_no_finding_row_and_no_event(store: Store) -> None:
    """Ten unchanged cycles: one event per finding (new), rows written once, and the open
    findings read back with last_seen = the latest cycle and consecutive_cycles counted."""
    r1, r2 = instance(1), instance(2)
    for n in range(1, 11):
        found = (
            tracked(r1, first=_at(1), last=_at(n), cycles=n),
            tracked(r2, first=_at(1), last=_at(n), cycles=n),
        )
        _commit(store, n, found)

    assert 2 == _count(store, "finding_events")
    assert {found[0].id: 1, found[1].id: 1} == _findings_written(store)
    assert {t.id: t for t in found} == store.open_findings()


def test_transitions_are_events(store: Store) -> None:
    """Severity change, exemption start, exemption end, resolution: one event each."""
    r = instance(1)
    base = tracked(r, first=_at(1), last=_at(1), cycles=1)
    exemption = ExemptionRef("config", "legacy box", "team-x", "2027-01-31")
    f = base.finding
    steps = [
        base,
        replace(base, last_seen=_at(2), consecutive_cycles=2),
        replace(
            base,
            finding=replace(f, severity=Severity.CRITICAL),
            last_seen=_at(3),
            consecutive_cycles=3,
        ),
        replace(
            base,
            finding=replace(f, status=Status.EXEMPT, exemption=exemption),
            last_seen=_at(4),
            consecutive_cycles=4,
        ),
        replace(base, last_seen=_at(5), consecutive_cycles=5),
    ]
    for n, t in enumerate(steps, start=1):
        _commit(store, n, (t,))
    _commit(store, 6, (replace(steps[-1], resolved_at=_at(6)),))

    assert [
        ("c1", FindingEventKind.NEW, Severity.HIGH),
        ("c3", FindingEventKind.CHANGED, Severity.CRITICAL),
        ("c4", FindingEventKind.EXEMPT, Severity.HIGH),
        ("c5", FindingEventKind.EXEMPTION_ENDED, Severity.HIGH),
        ("c6", FindingEventKind.RESOLVED, Severity.HIGH),
    ] == [(e.cycle_id, e.event, e.severity) for e in store.finding_history(base.id)]
    assert {} == store.open_findings()


def test_a_finding_carried_over_unobserved_keeps_its_last_seen(store: Store) -> None:
    """Not observed (a gap): last_seen and consecutive_cycles stay; observed again, they
    follow the cycles again."""
    r = instance(1)
    t1 = tracked(r, first=_at(1), last=_at(1), cycles=1)
    _commit(store, 1, (t1,))
    carried = replace(t1, finding=replace(t1.finding, status=Status.UNKNOWN))
    _commit(store, 2, (carried,), observed=())
    _commit(store, 3, (carried,), observed=())
    assert {t1.id: carried} == store.open_findings()

    back = replace(t1, last_seen=_at(4), consecutive_cycles=2)
    _commit(store, 4, (back,))
    _commit(store, 5, (replace(back, last_seen=_at(5), consecutive_cycles=3),))
    assert {t1.id: replace(back, last_seen=_at(5), consecutive_cycles=3)} == store.open_findings()


def _decision(cycle: str, status: ActionStatus, reason: str, at: datetime) -> ActionRecord:
    return ActionRecord(
        id=f"{cycle}-{status.value}",
        cycle_id=cycle,
        target_arn=f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:x:name/web",
        target_kind="autoscaling.group",
        action="start_instance_refresh",
        mode="dry-run",
        status=status,
        reason=reason,
        finding_ids=("f1",),
        account=ACCOUNT,
        region=REGION,
        at=at,
    )


def test_remediation_decisions_are_recorded_when_they_change(store: Store) -> None:
    """planned, planned, planned, held, held, planned: three rows; the current decision is
    the latest one; a decision no longer taken stops being current."""
    plan = [
        (ActionStatus.PLANNED, "would refresh"),
        (ActionStatus.PLANNED, "would refresh"),
        (ActionStatus.PLANNED, "would refresh"),
        (ActionStatus.HELD, "maintenance window closed"),
        (ActionStatus.HELD, "maintenance window closed"),
        (ActionStatus.PLANNED, "would refresh"),
    ]
    for n, (status, reason) in enumerate(plan, start=1):
        _commit(store, n, (), actions=(_decision(f"c{n}", status, reason, _at(n)),))

    assert ["c1-planned", "c4-held", "c6-planned"] == [a.id for a in store.actions_since(_at(0))]
    assert ["c6-planned"] == [a.id for a in store.current_decisions()]
    _commit(store, 7, ())
    assert [] == store.current_decisions()


def test_outcomes_are_always_recorded(store: Store) -> None:
    """An executed action is audit trail: recorded every time, even if it looks the same."""
    for n in (1, 2):
        executed = replace(
            _decision(f"c{n}", ActionStatus.EXECUTED, "refreshed", _at(n)), request_id="r"
        )
        _commit(store, n, (), actions=(executed,))
    assert ["c1-executed", "c2-executed"] == [a.id for a in store.actions_since(_at(0))]

"""Contract: findings keep their lifecycle across cycles; actions are an audit trail."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from auditor.model import ActionRecord, ActionStatus, ExemptionRef, Status, TrackedFinding
from auditor.store import CycleRecord, FindingEventKind, Store
from tests.store.builders import ACCOUNT, REGION, T0, instance, snapshot, tracked

T1, T2, T3 = T0, T0 + timedelta(minutes=15), T0 + timedelta(minutes=30)


def _cycle(store: Store, snap_id: str, at: datetime, found: tuple[TrackedFinding, ...]) -> None:
    store.commit_cycle(
        CycleRecord(
            snapshot=snapshot(snap_id, (instance(1),), at=at), evaluation=None, tracked=found
        )
    )


def test_finding_lifecycle_new_open_resolved(store: Store) -> None:
    """A finding is new, then still open, then resolved; the transitions are its history
    (staying open is the range between them, not an event per cycle)."""
    r = instance(1)
    first = tracked(r, first=T1, last=T1, cycles=1)
    _cycle(store, "c1", T1, (first,))
    assert {first.id: first} == store.open_findings()

    second = tracked(r, first=T1, last=T2, cycles=2)
    _cycle(store, "c2", T2, (second,))
    assert {second.id: second} == store.open_findings()

    resolved = tracked(r, first=T1, last=T2, cycles=2, resolved_at=T3)
    _cycle(store, "c3", T3, (resolved,))

    assert store.open_findings() == {}
    assert [
        ("c1", FindingEventKind.NEW, T1 + timedelta(seconds=42)),
        ("c3", FindingEventKind.RESOLVED, T3 + timedelta(seconds=42)),
    ] == [(e.cycle_id, e.event, e.at) for e in store.finding_history(first.id)]


def test_reappearing_finding_is_new_again_and_exemptions_are_kept(store: Store) -> None:
    """A resolved finding that comes back is `new`; an exempt one round-trips its exemption."""
    r = instance(1)
    _cycle(store, "c1", T1, (tracked(r, first=T1, last=T1, cycles=1),))
    _cycle(store, "c2", T2, (tracked(r, first=T1, last=T1, cycles=1, resolved_at=T2),))
    again = tracked(r, first=T3, last=T3, cycles=1)
    exempt_finding = tracked(instance(2), first=T3, last=T3, cycles=1, status=Status.EXEMPT)
    exemption = ExemptionRef("config", "legacy box", "team-x", "2027-01-31")
    exempt = replace(exempt_finding, finding=replace(exempt_finding.finding, exemption=exemption))
    _cycle(store, "c3", T3, (again, exempt))

    assert {again.id: again, exempt.id: exempt} == store.open_findings()
    assert [e.event for e in store.finding_history(again.id)] == [
        FindingEventKind.NEW,
        FindingEventKind.RESOLVED,
        FindingEventKind.NEW,
    ]
    assert [e.event for e in store.finding_history(exempt.id)] == [FindingEventKind.EXEMPT]


def test_actions_round_trip_and_filter_by_time(store: Store) -> None:
    """Recorded actions come back equal; actions_since leaves out older ones."""

    def action(n: int, at: datetime, status: ActionStatus) -> ActionRecord:
        return ActionRecord(
            id=f"act-{n}",
            cycle_id="c1",
            target_arn=f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:x:name/web",
            target_kind="autoscaling.group",
            action="start_instance_refresh",
            mode="enforce",
            status=status,
            reason="ec2.max_age for 3 cycles",
            finding_ids=("f1", "f2"),
            account=ACCOUNT,
            region=REGION,
            at=at,
            request_id="req-1" if status is ActionStatus.EXECUTED else None,
            response={"InstanceRefreshId": "abc"} if status is ActionStatus.EXECUTED else None,
        )

    old, new = action(1, T1, ActionStatus.HELD), action(2, T2, ActionStatus.EXECUTED)
    store.commit_cycle(
        CycleRecord(
            snapshot=snapshot("c1", (), at=T1), evaluation=None, tracked=(), actions=(old, new)
        )
    )

    assert [old, new] == store.actions_since(T1)
    assert [new] == store.actions_since(T1 + timedelta(seconds=1))

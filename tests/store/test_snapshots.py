"""Contract: snapshots round-trip exactly, are content-addressed, and a cycle is atomic."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from auditor.model import CollectionGap, Kind, Resource, Service, Status
from auditor.store import CycleRecord, SnapshotNotFoundError, Store
from tests.store.builders import ACCOUNT, REGION, T0, instance, message, snapshot, tracked


def _count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)  # noqa: S608


def _commit(store: Store, snap_id: str, resources: tuple[Resource, ...], at: datetime = T0) -> None:
    store.commit_cycle(
        CycleRecord(snapshot=snapshot(snap_id, resources, at=at), evaluation=None, tracked=())
    )


def test_round_trip_rebuilds_equal_snapshot(store: Store) -> None:
    """What load_snapshot returns equals what was saved: resources, order, gaps, scope, calls."""
    gap = CollectionGap(
        account=ACCOUNT,
        region=REGION,
        service=Service.ECS,
        kinds=(Kind.ECS_CLUSTER, Kind.ECS_SERVICE),
        operation="ecs:ListClusters",
        error_code="AccessDeniedException",
        message="not authorized",
    )
    odd = replace(instance(7, at=T0 + timedelta(microseconds=123457)), unavailable=("UserData",))
    resources = (instance(3), odd, instance(1, at=T0 - timedelta(seconds=5)), instance(2))
    saved = snapshot("snap-1", resources, gaps=(gap,))

    store.commit_cycle(CycleRecord(snapshot=saved, evaluation=None, tracked=()))

    assert saved == store.load_snapshot("snap-1")
    assert saved == store.latest_snapshot()


def test_latest_snapshot_is_the_last_committed(store: Store) -> None:
    """An empty store has no latest snapshot; afterwards it is the most recent cycle."""
    assert store.latest_snapshot() is None
    _commit(store, "snap-1", (instance(1),))
    _commit(store, "snap-2", (instance(1), instance(2)), at=T0 + timedelta(minutes=15))

    latest = store.latest_snapshot()

    assert latest is not None
    assert latest.id == "snap-2"
    assert [instance(1).arn, instance(2).arn] == [r.arn for r in latest.resources]


def test_unchanged_cycle_adds_no_configuration_rows(store: Store) -> None:
    """A second cycle that sees the same configurations stores references, not copies."""
    fleet = tuple(instance(n) for n in range(50))
    _commit(store, "snap-1", fleet)
    configs, versions = _count(store, "resource_configs"), _count(store, "resource_versions")

    later = T0 + timedelta(minutes=15)
    _commit(store, "snap-2", tuple(instance(n, at=later) for n in range(50)), at=later)

    assert (configs, versions) == (50, 50)
    assert (_count(store, "resource_configs"), _count(store, "resource_versions")) == (50, 50)
    assert later == store.load_snapshot("snap-2").resources[0].observed_at


def test_changed_resource_gets_a_new_version_and_keeps_its_history(store: Store) -> None:
    """A changed configuration is one new row; resource_versions lists both, oldest first."""
    t1, t2, t3 = T0, T0 + timedelta(minutes=15), T0 + timedelta(minutes=30)
    _commit(store, "snap-1", (instance(1, at=t1), instance(2, at=t1)), at=t1)
    _commit(store, "snap-2", (instance(1, at=t2), instance(2, at=t2)), at=t2)
    changed = instance(1, at=t3, InstanceType="m5.large")
    _commit(store, "snap-3", (changed, instance(2, at=t3)), at=t3)

    versions = store.resource_versions(changed.arn)

    assert _count(store, "resource_configs") == 3
    assert [(v.first_snapshot_id, v.last_snapshot_id) for v in versions] == [
        ("snap-1", "snap-2"),
        ("snap-3", "snap-3"),
    ]
    assert [(t1, t2), (t3, t3)] == [(v.first_seen, v.last_seen) for v in versions]
    assert [instance(1).config_hash, changed.config_hash] == [v.config_hash for v in versions]
    assert changed == versions[1].resource


def test_baselines_are_the_first_observed_versions(store: Store) -> None:
    """The drift baseline of each ARN is its first configuration; unknown ARNs are absent."""
    _commit(store, "snap-1", (instance(1), instance(2)))
    later = T0 + timedelta(hours=1)
    _commit(store, "snap-2", (instance(1, at=later, ImageId="ami-new"),), at=later)

    found = store.baselines([instance(1).arn, instance(2).arn, "arn:aws:ec2:::instance/i-nope"])

    assert {instance(1).arn: instance(1), instance(2).arn: instance(2)} == {
        arn: v.resource for arn, v in found.items()
    }


def test_unknown_snapshot_is_a_lookup_error(store: Store) -> None:
    """Loading a snapshot id that was never committed raises SnapshotNotFoundError."""
    with pytest.raises(SnapshotNotFoundError):
        store.load_snapshot("nope")


def test_list_cycles_newest_first_with_counts(store: Store) -> None:
    """list_cycles summarises each cycle (resources, gaps, API calls), newest first."""
    _commit(store, "snap-1", (instance(1),))
    store.commit_cycle(
        CycleRecord(
            snapshot=snapshot("snap-2", (instance(1), instance(2)), at=T0 + timedelta(hours=1)),
            evaluation=None,
            tracked=(),
            report_id="rep-2",
            metadata={"findings": 3},
        )
    )

    cycles = store.list_cycles(limit=10)

    assert [
        (c.id, c.resource_count, c.api_calls, c.report_id, dict(c.metadata)) for c in cycles
    ] == [("snap-2", 2, 4, "rep-2", {"findings": 3}), ("snap-1", 1, 4, None, {})]
    assert [c.id for c in store.list_cycles(limit=1)] == ["snap-2"]


def test_failed_commit_leaves_previous_state_intact(store: Store) -> None:
    """A write failing midway (non-JSON outbox payload) rolls the whole cycle back."""
    _commit(store, "snap-1", (instance(1),))
    before = store.latest_snapshot()
    bad = replace(message("k1"), payload={"x": object()})
    later = T0 + timedelta(minutes=15)
    record = CycleRecord(
        snapshot=snapshot(
            "snap-2", (instance(1, at=later, ImageId="ami-2"), instance(9)), at=later
        ),
        evaluation=None,
        tracked=(tracked(instance(1), first=later, last=later, cycles=1, status=Status.FAIL),),
        outbox=(message("k0"), bad),
    )

    with pytest.raises(Exception, match="JSON serializable"):
        store.commit_cycle(record)

    assert before == store.latest_snapshot()
    assert [c.id for c in store.list_cycles()] == ["snap-1"]
    assert store.open_findings() == {}
    assert store.outbox().pending() == []
    assert (_count(store, "resource_configs"), _count(store, "resource_versions")) == (1, 1)


def test_duplicate_snapshot_id_is_refused_whole(store: Store) -> None:
    """Committing a snapshot id twice fails and adds nothing (no half-written second copy)."""
    _commit(store, "snap-1", (instance(1),))

    with pytest.raises(sa.exc.IntegrityError, match="(?i)unique"):
        _commit(store, "snap-1", (instance(2),))

    assert _count(store, "resource_configs") == 1
    assert len(store.list_cycles()) == 1


def test_gone_and_returning_resources_keep_an_exact_last_seen(store: Store) -> None:
    """A resource that disappears ends at the last cycle that saw it; one that returns
    with the same configuration continues its version (no copy) up to the latest cycle."""
    times = [T0 + timedelta(minutes=15 * i) for i in range(4)]
    fleets = [
        (instance(1, at=times[0]), instance(2, at=times[0])),
        (instance(1, at=times[1]), instance(2, at=times[1])),
        (instance(1, at=times[2]),),
        (instance(1, at=times[3]),),
    ]
    for i, fleet in enumerate(fleets[:3]):
        _commit(store, f"c{i}", fleet, at=times[i])
    (gone,) = store.resource_versions(instance(2).arn)
    assert ("c0", "c1", times[0], times[1]) == (
        gone.first_snapshot_id,
        gone.last_snapshot_id,
        gone.first_seen,
        gone.last_seen,
    )

    _commit(store, "c3", (*fleets[3], instance(2, at=times[3])), at=times[3])

    (back,) = store.resource_versions(instance(2).arn)
    assert ("c0", "c3", times[3]) == (back.first_snapshot_id, back.last_snapshot_id, back.last_seen)
    assert 2 == _count(store, "resource_configs")
    assert [instance(1).arn] == [r.arn for r in store.load_snapshot("c2").resources]


def test_ten_thousand_resources_round_trip(store: Store) -> None:
    """A fleet of 10,000 is stored and loaded whole; an unchanged second cycle adds no config
    and no version rows (bulk paths, not one statement per resource)."""
    later = T0 + timedelta(minutes=15)
    first = tuple(instance(n, at=T0 + timedelta(seconds=n // 2000)) for n in range(10_000))
    second = tuple(instance(n, at=later) for n in range(10_000))
    _commit(store, "big-1", first)
    _commit(store, "big-2", second, at=later)

    assert second == store.latest_snapshot().resources  # type: ignore[union-attr]
    assert first == store.load_snapshot("big-1").resources
    assert (10_000, 10_000) == (
        _count(store, "resource_configs"),
        _count(store, "resource_versions"),
    )

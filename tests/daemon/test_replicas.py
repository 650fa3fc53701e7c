"""Two `auditor run` processes on one PostgreSQL: one leader, and a bounded takeover."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from auditor.store import Store
from auditor.store.leases import LEASES
from tests.daemon.conftest import Fleet
from tests.daemon.processes import DaemonProcess, aws_env, wait_for, write_config

LEASE = 6  # schedule.leader_lease_seconds
# docs/operations.md: a follower leads within 0.7 x lease (lease expiry 0.6 x + one heartbeat
# of lease / 10); 0.25 s allows for the heartbeat thread's scheduling on a loaded 2-core CI box
TAKEOVER_BOUND = 0.7 * LEASE + 0.25
LEASE_TTL = 0.6 * LEASE  # the lease row lives this long after each renewal


def _is_leader(daemon: DaemonProcess) -> bool:
    return daemon.metric("auditor_leader") == 1.0


def _lease(store: Store) -> tuple[str, datetime] | None:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(LEASES.c.holder, LEASES.c.expires_at)).first()
    if row is None:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    return str(row.holder), expires


def test_one_leader_runs_cycles_and_a_follower_takes_over_after_kill_9(
    fleet: Fleet, postgres_url: str, tmp_path: Path
) -> None:
    """Of two replicas, exactly one runs cycles and no cycle runs twice; after kill -9 of
    the leader the other holds the lease within leader_lease_seconds and runs cycles."""
    env = aws_env(fleet.endpoint_url)
    daemons = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        config = write_config(tmp_path / name, postgres_url, fleet.key, lease=LEASE)
        daemons.append(DaemonProcess(config, env, name=name))
    store = Store.open(postgres_url)
    try:
        leader = wait_for(
            "a leader with 2 cycles",
            lambda: next((d for d in daemons if len(d.cycles()) >= 2), None),
            30,
        )
        follower = next(d for d in daemons if d is not leader)
        assert [] == follower.cycles()
        assert (1.0, 0.0) == (leader.metric("auditor_leader"), follower.metric("auditor_leader"))
        assert 200 == follower.get("/readyz")[0]

        held = _lease(store)
        assert held is not None
        leader.signal(signal.SIGKILL)
        killed_at = datetime.now(UTC)
        leader.wait(timeout=10)
        taken = wait_for(
            "the follower to take the lease",
            lambda: lease if (lease := _lease(store)) and lease[0] != held[0] else None,
            LEASE * 2,
            interval=0.02,
        )
        # the row's own record of when it was taken: independent of polling and scraping
        takeover = (taken[1] - timedelta(seconds=LEASE_TTL) - killed_at).total_seconds()
        wait_for("the follower to say it leads", lambda: _is_leader(follower), LEASE)
        follower.wait_cycles(1)

        follower.signal(signal.SIGTERM)
        assert 0 == follower.wait(timeout=30)
        by_leader = [c["cycle_id"] for c in leader.cycles()]
        by_follower = [c["cycle_id"] for c in follower.cycles()]
        committed = [c.id for c in store.list_cycles(limit=1000)]
    finally:
        store.close()
        for daemon in daemons:
            daemon.close()
    assert takeover <= TAKEOVER_BOUND, takeover
    assert len(committed) == len(set(committed))
    assert set() == set(by_leader) & set(by_follower)
    logged = set(by_leader) | set(by_follower)
    assert logged <= set(committed)
    # kill -9 may land between the leader's commit and its log line: one cycle, no more
    assert len(set(committed) - logged) <= 1

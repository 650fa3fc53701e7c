"""`auditor run` as a real process against a moto server and the real PostgreSQL."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.store import Store
from tests.daemon.conftest import Fleet
from tests.daemon.processes import (
    DaemonProcess,
    aws_env,
    metric_samples,
    wait_for,
    write_config,
)
from tests.daemon.proxies import HoldingHttpProxy, TcpProxy

CANONICAL_KEYS = {
    "cycle_id",
    "duration_s",
    "resources",
    "api_calls",
    "gaps",
    "findings_new",
    "findings_open",
    "findings_resolved",
    "alerts_sent",
    "alerts_pending",
    "actions",
}


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    """The test's own view of the daemon's store (same schema, another process)."""
    s = Store.open(postgres_url)
    yield s
    s.close()


def _via(proxy: TcpProxy, url: str) -> str:
    return url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")


def _ready(daemon: DaemonProcess, status: int, reason: str = "") -> bool:
    code, body = daemon.get("/readyz")
    return code == status and reason in body


def test_cycles_health_metrics_and_canonical_lines(
    fleet: Fleet, postgres_url: str, store: Store, tmp_path: Path
) -> None:
    """The daemon runs cycles on its interval into the PostgreSQL schema named in the URL,
    answers /healthz and /readyz, reports the fleet in /metrics, logs exactly one JSON
    canonical line per committed cycle, turns unready while the store is unreachable, and
    exits 0 on SIGTERM."""
    with TcpProxy("127.0.0.1", 5432) as db:
        config = write_config(tmp_path, _via(db, postgres_url), fleet.key)
        daemon = DaemonProcess(config, aws_env(fleet.endpoint_url))
        try:
            assert (200, "ok\n") == daemon.get("/healthz")
            daemon.wait_cycles(2)
            wait_for("/readyz 200", lambda: _ready(daemon, 200, "ok"), 10)

            done = wait_for(
                "2 cycles counted",
                lambda: (
                    (n := daemon.metric("auditor_cycles_total", {"result": "complete"}))
                    and n >= 2
                    and n
                ),
                10,
            )
            _, text = daemon.get("/metrics")
            assert 1.0 == metric_samples(text, "auditor_leader")[()]
            resources = {
                dict(labels)["kind"]: n
                for labels, n in metric_samples(text, "auditor_resources").items()
            }
            seeded = {kind: resources.get(kind) for kind in fleet.expected}
            assert fleet.expected == seeded
            latest = store.latest_snapshot()
            assert latest is not None
            in_store: dict[str, float] = {}
            for r in latest.resources:
                in_store[r.kind.value] = in_store.get(r.kind.value, 0) + 1
            assert in_store == {k: n for k, n in resources.items() if n}
            assert 0.0 == sum(metric_samples(text, "auditor_collection_gaps").values())
            assert (
                latest.finished_at.timestamp()
                <= metric_samples(text, "auditor_last_cycle_timestamp_seconds")[()]
            )
            wait_for(
                "the cycle counter to increase",
                lambda: (daemon.metric("auditor_cycles_total", {"result": "complete"}) or 0) > done,
                10,
            )

            db.cut()
            wait_for("/readyz 503 without the store", lambda: _ready(daemon, 503, "store"), 10)
            assert 200 == daemon.get("/healthz")[0]
            db.restore()
            wait_for("/readyz 200 again", lambda: _ready(daemon, 200), 20)

            daemon.signal(signal.SIGTERM)
            assert 0 == daemon.wait(timeout=30)
        finally:
            daemon.close()

    lines = daemon.cycles()
    assert [] == daemon.non_json_lines()
    assert all(CANONICAL_KEYS <= set(line) for line in lines)
    logged = [line["cycle_id"] for line in lines]
    committed = {c.id for c in store.list_cycles(limit=1000)}
    assert len(logged) == len(set(logged))
    assert committed == set(logged)
    assert [True] == [e["clean"] for e in daemon.events("daemon_stopped")]


def test_sigterm_during_a_cycle_lets_it_finish_and_exits_0(
    fleet: Fleet, postgres_url: str, store: Store, tmp_path: Path
) -> None:
    """SIGTERM while a cycle waits on AWS: the daemon turns unready, starts nothing new,
    lets the cycle finish and commit once AWS answers, releases the lease and exits 0."""
    with HoldingHttpProxy(fleet.endpoint_url) as aws:
        config = write_config(tmp_path, postgres_url, fleet.key, grace=20)
        daemon = DaemonProcess(config, aws_env(aws.url))
        try:
            first = daemon.wait_cycles(1)[0]["cycle_id"]
            aws.hold()
            aws.wait_until_holding(10)
            daemon.signal(signal.SIGTERM)
            wait_for("/readyz 503", lambda: _ready(daemon, 503, "shutting down"), 10)
            assert daemon.proc.poll() is None  # waiting for the cycle, within its grace
            aws.release()
            assert 0 == daemon.wait(timeout=20)
        finally:
            aws.release()
            daemon.close()
    logged = [line["cycle_id"] for line in daemon.cycles()]
    assert first == logged[0]
    latest = store.latest_snapshot()
    assert latest is not None
    assert logged[-1] == latest.id
    assert {c.id for c in store.list_cycles(limit=1000)} == set(logged)
    assert [True] == [e["clean"] for e in daemon.events("daemon_stopped")]
    assert store.try_acquire_lease("scheduler", "someone-else", 60, latest.finished_at)


def test_sigterm_abandons_a_cycle_that_outlives_the_grace_period(
    fleet: Fleet, postgres_url: str, store: Store, tmp_path: Path
) -> None:
    """A cycle stuck past the grace period is abandoned: exit 0 soon after the grace
    period, nothing of it written (the previous snapshot stays the latest). While stuck,
    /readyz says the last cycle is older than twice the interval."""
    grace = 2
    with HoldingHttpProxy(fleet.endpoint_url) as aws:
        config = write_config(tmp_path, postgres_url, fleet.key, grace=grace)
        daemon = DaemonProcess(config, aws_env(aws.url))
        try:
            daemon.wait_cycles(1)
            aws.hold()
            aws.wait_until_holding(10)
            before = store.latest_snapshot()
            assert before is not None
            wait_for("/readyz 503 stale", lambda: _ready(daemon, 503, "last cycle"), 15)
            began = time.monotonic()
            daemon.signal(signal.SIGTERM)
            assert 0 == daemon.wait(timeout=grace + 10)
            elapsed = time.monotonic() - began
        finally:
            aws.release()
            daemon.close()
    assert elapsed < grace + 3, elapsed
    after = store.latest_snapshot()
    assert after is not None
    assert before.id == after.id
    assert ["shutdown grace period over"] == [e["reason"] for e in daemon.events("cycle_abandoned")]


def test_kill_9_during_a_cycle_keeps_the_previous_snapshot_and_a_restart_completes_one(
    fleet: Fleet, postgres_url: str, store: Store, tmp_path: Path
) -> None:
    """kill -9 in the middle of a cycle leaves the store on the previous complete snapshot;
    a new daemon on the same store takes the lease once it expires and commits a cycle."""
    with HoldingHttpProxy(fleet.endpoint_url) as aws:
        config = write_config(tmp_path, postgres_url, fleet.key)
        daemon = DaemonProcess(config, aws_env(aws.url), name="first")
        try:
            daemon.wait_cycles(1)
            aws.hold()
            aws.wait_until_holding(10)
            before = store.latest_snapshot()
            assert before is not None
            daemon.signal(signal.SIGKILL)
            assert -signal.SIGKILL == daemon.wait(timeout=10)
        finally:
            daemon.close()
        after_kill = store.latest_snapshot()
        assert after_kill is not None
        assert before.id == after_kill.id
        aws.release()

        second = DaemonProcess(config, aws_env(aws.url), name="second")
        try:
            new = second.wait_cycles(1)[0]["cycle_id"]
            second.signal(signal.SIGTERM)
            assert 0 == second.wait(timeout=30)
        finally:
            second.close()
    assert before.id != new
    assert new in {c.id for c in store.list_cycles(limit=1000)}

"""The daemon's scheduling and leadership, in-process, with a fake cycle we hold and release."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditor.daemon import LEASE_NAME, Daemon
from auditor.model import Evaluation, FindingDelta, Scope, Service, Snapshot
from auditor.pipeline import CycleResult
from auditor.settings import Settings
from auditor.store import CycleRecord, Store
from tests.daemon.processes import wait_for


def _settings(store: str, scan: str = "every 1s") -> Settings:
    return Settings(
        store=store,
        schedule={
            "scan": scan,
            "jitter_seconds": 0,
            "leader_lease_seconds": 5,
            "misfire_grace_seconds": 7,
        },
        metrics={"listen": "127.0.0.1:0"},
    )


def _result() -> CycleResult:
    now = datetime.now(UTC)
    snapshot = Snapshot(
        id=f"cycle-{uuid.uuid4().hex[:8]}",
        started_at=now,
        finished_at=now,
        scope=Scope(("123456789012",), ("us-east-1",), (Service.EC2,)),
        resources=(),
        gaps=(),
        api_calls={},
    )
    evaluation = Evaluation(snapshot.id, now, (), ())
    return CycleResult(snapshot.id, snapshot, evaluation, FindingDelta((), (), ()))


class HeldCycles:
    """A fake cycle runner: call n blocks until release(n); records overlap."""

    def __init__(self, commit: bool = False) -> None:
        self._lock = threading.Lock()
        self._commit = commit
        self.calls = 0
        self.running = 0
        self.max_running = 0
        self.entered = [threading.Event() for _ in range(10)]
        self.started: dict[int, datetime] = {}
        self.gates = [threading.Event() for _ in range(10)]

    def __call__(self, store: Store) -> CycleResult:
        with self._lock:
            n = self.calls
            self.calls += 1
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            self.started[n] = datetime.now(UTC)
            self.entered[n].set()
            self.gates[n].wait(30)
            result = _result()
            if self._commit:
                store.commit_cycle(CycleRecord(result.snapshot, result.evaluation, ()))
            return result
        finally:
            with self._lock:
                self.running -= 1

    def release_all(self) -> None:
        for gate in self.gates:
            gate.set()


def _sample(daemon: Daemon, name: str, labels: dict[str, str] | None = None) -> float:
    return daemon.metrics.registry.get_sample_value(name, labels or {}) or 0.0


@pytest.fixture
def runner() -> Iterator[HeldCycles]:
    held = HeldCycles()
    yield held
    held.release_all()


def test_a_slow_cycle_never_overlaps_and_missed_runs_are_caught_up_once(
    tmp_path: Path, runner: HeldCycles
) -> None:
    """With a 2 s interval and a cycle held for two intervals, no second cycle starts
    while it runs; when it ends, ONE catch-up cycle starts at once (well before the next
    scheduled run), and while that one is held no third starts either."""
    daemon = Daemon(_settings(f"sqlite:///{tmp_path}/a.db", scan="every 2s"), runner=runner)
    daemon.start()
    try:
        job = daemon.scheduler.get_job("cycle")
        assert (True, 1, 7) == (job.coalesce, job.max_instances, job.misfire_grace_time)
        assert runner.entered[0].wait(10)
        wait_for("2 skipped runs", lambda: _sample(daemon, "auditor_cycles_skipped_total") >= 2, 10)
        scheduled = daemon.scheduler.get_job("cycle").next_run_time
        runner.gates[0].set()
        assert runner.entered[1].wait(10)
        assert (scheduled - runner.started[1]).total_seconds() > 1.0
        skipped = _sample(daemon, "auditor_cycles_skipped_total")
        wait_for(
            "another skipped run",
            lambda: _sample(daemon, "auditor_cycles_skipped_total") >= skipped + 1,
            10,
        )
        assert (2, 1) == (runner.calls, runner.max_running)
    finally:
        runner.release_all()
        assert daemon.stop(grace=10)
    assert 1 <= _sample(daemon, "auditor_cycles_total", {"result": "complete"})


def test_a_leader_that_lost_its_lease_abandons_its_cycle_before_commit(
    tmp_path: Path,
) -> None:
    """If another replica holds the lease when a cycle is about to commit (this one was
    paused or cut off past the lease), the cycle is abandoned and nothing is written."""
    runner = HeldCycles(commit=True)
    url = f"sqlite:///{tmp_path}/a.db"
    daemon = Daemon(_settings(url, scan="every 1h"), runner=runner)
    daemon.start()
    other = Store.open(url)
    try:
        assert runner.entered[0].wait(10)
        later = datetime.now(UTC) + timedelta(hours=1)
        assert other.try_acquire_lease(LEASE_NAME, "intruder", 3600, later)
        runner.gates[0].set()
        wait_for(
            "the cycle to be abandoned",
            lambda: _sample(daemon, "auditor_cycles_total", {"result": "abandoned"}) == 1,
            10,
        )
        assert other.latest_snapshot() is None
        assert 0.0 == _sample(daemon, "auditor_leader")
    finally:
        runner.release_all()
        daemon.stop(grace=10)
        other.close()


def test_a_stopped_leader_hands_over_at_once(postgres_url: str) -> None:
    """Two replicas on one PostgreSQL: one leads; when it stops cleanly it releases the
    lease, so the other leads at its next heartbeat, not after the lease expiry."""
    settings = _settings(postgres_url, scan="every 1h")
    runners = HeldCycles(), HeldCycles()
    for r in runners:
        r.release_all()
    a, b = (Daemon(settings, runner=r) for r in runners)
    for d in (a, b):
        d.start()
    try:
        leader = wait_for("a leader", lambda: next((d for d in (a, b) if d.is_leader), None), 5)
        follower = b if leader is a else a
        assert not follower.is_leader
        assert leader.stop(grace=10)
        # the lease was renewed at most one heartbeat (0.5 s) ago and lives 3 s: 1.5 s
        # is well before it would expire by itself
        wait_for("the follower to lead", lambda: follower.is_leader, 1.5)
    finally:
        for d in (a, b):
            d.stop(grace=0)
            d.store.close()


def test_a_cycle_finishing_late_in_the_grace_period_keeps_the_lease_and_commits(
    postgres_url: str,
) -> None:
    """The grace period may be longer than the lease: the stopping leader keeps renewing
    while its cycle finishes, so the follower does not take over next to it, and the
    cycle commits. Then the lease is released and the follower leads."""
    settings = _settings(postgres_url, scan="every 1h")
    held, idle = HeldCycles(commit=True), HeldCycles()
    idle.release_all()
    a = Daemon(settings, runner=held)
    a.start()
    assert held.entered[0].wait(10)
    b = Daemon(settings, runner=idle)
    b.start()
    stopped = threading.Event()
    stopper = threading.Thread(target=lambda: stopped.set() if a.stop(grace=20) else None)
    try:
        stopper.start()
        wait_for("a to stop being ready", lambda: not a.ready()[0], 5)
        beyond_lease = time.monotonic() + a.lease_ttl + 1.0
        while time.monotonic() < beyond_lease:  # longer than the lease lives unrenewed
            assert not b.is_leader
            time.sleep(0.05)
        held.gates[0].set()
        stopper.join(10)
        assert stopped.is_set()
        assert b.store.latest_snapshot() is not None
        wait_for("the follower to lead", lambda: b.is_leader, 1.5)
    finally:
        held.release_all()
        b.stop(grace=5)
        for d in (a, b):
            d.store.close()

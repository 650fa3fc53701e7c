"""A cycle that fails, or is incomplete, does not stop the daemon: it keeps scheduling and
says so on /readyz and in the metrics."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from auditor.daemon import Daemon
from auditor.model import ANY, CollectionGap, Kind, Service
from auditor.pipeline import CycleResult
from auditor.store import Store
from tests.daemon.processes import wait_for
from tests.daemon.test_scheduling import _result, _sample, _settings


class FailsThenIncomplete:
    """Cycles 1 and 2 raise; later ones return a cycle whose evaluation stage crashed."""

    def __init__(self) -> None:
        self.calls = 0
        self.third = threading.Event()

    def __call__(self, store: Store) -> CycleResult:
        self.calls += 1
        if self.calls <= 2:
            raise RuntimeError("the store went away mid-commit")
        result = _result()
        crashed = CollectionGap(
            ANY, ANY, Service.EC2, (Kind.EC2_INSTANCE,), "auditor:evaluate", "TypeError", "x"
        )
        snapshot = replace(result.snapshot, gaps=(crashed,))
        self.third.set()
        return replace(result, snapshot=snapshot)


def test_failing_cycles_keep_being_scheduled_and_are_visible(tmp_path: Path) -> None:
    """Two failures: /readyz says the last cycle failed, auditor_last_cycle_failed is 1 and
    the gaps metric shows every service; the next (incomplete) cycle still runs on
    schedule and is reported as incomplete, with the crashed stage counted."""
    runner = FailsThenIncomplete()
    daemon = Daemon(_settings(f"sqlite:///{tmp_path}/a.db", scan="every 1s"), runner=runner)
    daemon.start()
    try:
        wait_for("two failed cycles", lambda: runner.calls >= 2, 15)
        wait_for("a failure seen", lambda: "failed (RuntimeError)" in daemon.ready()[1], 5)
        assert _sample(daemon, "auditor_last_cycle_failed") == 1
        assert _sample(daemon, "auditor_collection_gaps", {"service": "ec2"}) == 1
        assert _sample(daemon, "auditor_cycles_total", {"result": "error"}) >= 2
        assert runner.third.wait(15)
        wait_for("incomplete seen", lambda: "incomplete: 1 gap" in daemon.ready()[1], 5)
        assert _sample(daemon, "auditor_last_cycle_failed") == 0
        assert _sample(daemon, "auditor_stage_failures_total", {"stage": "evaluate"}) >= 1
    finally:
        assert daemon.stop(grace=10)

"""Distributed cycles fail closed and always complete: a killed worker, a unit past its
deadline, a worker stopped with SIGTERM, no worker at all, a stopped broker."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from auditor.errors import ExitCode
from auditor.model import Severity
from auditor.pipeline import CycleOptions, CycleResult, run_cycle
from auditor.settings import load_settings
from auditor.store import Store
from tests.daemon.processes import wait_for
from tests.daemon.proxies import HoldingHttpProxy
from tests.workers.conftest import ACCOUNTS, REGIONS, SERVICES, Moto, broker_url, write_config

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

UNITS = len(ACCOUNTS) * len(REGIONS) * len(SERVICES)
OPTIONS = CycleOptions(write_report=False, send_alerts=False)


class Leader:
    """run_cycle on a thread of this process, so a test can act while it waits."""

    def __init__(self, config: Path) -> None:
        self.result: CycleResult | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(config,), daemon=True)
        self._thread.start()

    def _run(self, config: Path) -> None:
        try:
            self.result = run_cycle(load_settings(config), options=OPTIONS)
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float) -> CycleResult:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the cycle did not complete within {timeout}s"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def _rows(url: str, cycle_id: str) -> list[Any]:
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text(
                        "SELECT account, region, service, state, deliveries, error, worker "
                        "FROM work_units WHERE cycle_id = :c"
                    ),
                    {"c": cycle_id},
                ).all()
            )
    finally:
        store.close()


def _inventory(result: CycleResult) -> set[tuple[str, str]]:
    return {(r.arn, r.config_hash) for r in result.snapshot.resources}


def _config(tmp_path: Path, url: str, moto: Moto, queue: str, **workers: Any) -> Path:
    # a lease long enough that a live worker on a loaded machine keeps it
    settings = {"broker": broker_url(), "queue": queue, "lease_seconds": 5, **workers}
    return write_config(tmp_path, url, moto.key, workers=settings)


def test_worker_killed_mid_unit_its_unit_is_redelivered_and_the_cycle_completes(
    moto: Moto,
    leader_env: None,
    local_inventory: CycleResult,
    queue: str,
    spawn: Any,
    tmp_path: Path,
    postgres_url: str,
) -> None:
    """kill -9 while a worker holds a unit: its lease lapses, the leader sends the unit
    again, the other worker collects it. Same inventory; one row per unit, no duplicate."""
    config = _config(tmp_path, postgres_url, moto, queue, unit_timeout_seconds=60)
    with HoldingHttpProxy(moto.url) as proxy:
        proxy.hold()
        doomed = spawn(config, "doomed", endpoint=proxy.url, concurrency=1)
        spawn(config, "survivor")
        leader = Leader(config)
        proxy.wait_until_holding(30)
        doomed.proc.send_signal(signal.SIGKILL)
        doomed.proc.wait(timeout=10)
        result = leader.join(90)

    assert result.snapshot.complete
    assert _inventory(result) == _inventory(local_inventory)
    rows = _rows(postgres_url, result.cycle_id)
    assert len(rows) == UNITS
    assert {r.state for r in rows} == {"done"}
    doomed_id = doomed.events("worker_started")[0]["worker"]
    assert max(r.deliveries for r in rows) >= 2  # the killed worker's unit, sent again
    assert doomed_id not in {r.worker for r in rows}  # finished by the survivor
    assert len(result.snapshot.resources) == len({r.arn for r in result.snapshot.resources})


def test_worker_lost_too_often_is_a_gap_for_exactly_its_unit(
    moto: Moto,
    leader_env: None,
    local_inventory: CycleResult,
    queue: str,
    spawn: Any,
    tmp_path: Path,
    postgres_url: str,
) -> None:
    """With max_deliveries 1 the lost unit is not sent again: a gap naming exactly its
    account, region and service; everything else collected; exit 3."""
    config = _config(tmp_path, postgres_url, moto, queue, unit_timeout_seconds=60, max_deliveries=1)
    with HoldingHttpProxy(moto.url) as proxy:
        proxy.hold()
        doomed = spawn(config, "doomed", endpoint=proxy.url, concurrency=1)
        spawn(config, "survivor")
        leader = Leader(config)
        proxy.wait_until_holding(30)
        doomed.proc.send_signal(signal.SIGKILL)
        doomed.proc.wait(timeout=10)
        result = leader.join(90)

    doomed_id = doomed.events("worker_started")[0]["worker"]
    rows = _rows(postgres_url, result.cycle_id)
    lost = {(r.account, r.region, r.service) for r in rows if r.state != "done"}
    assert {(r.state, r.error) for r in rows if r.state != "done"} == {("expired", "WorkerLost")}
    # the killed worker's unit is lost (a loaded machine may starve another lease too)
    assert any(r.worker == doomed_id for r in rows if r.state != "done")
    assert {(g.account, g.region, g.service.value) for g in result.snapshot.gaps} == lost
    assert {g.error_code for g in result.snapshot.gaps} == {"WorkerLost"}
    expected = {
        (r.arn, r.config_hash)
        for r in local_inventory.snapshot.resources
        if (r.account, r.region, r.kind.service.value) not in lost
    }
    assert _inventory(result) == expected
    assert result.exit_code(Severity.CRITICAL) is ExitCode.INCOMPLETE


def test_unit_past_its_deadline_is_a_gap_and_its_findings_stay_open(
    moto: Moto, leader_env: None, queue: str, spawn: Any, tmp_path: Path, postgres_url: str
) -> None:
    """A worker stuck on a unit (alive, renewing its lease): at the deadline the unit is a
    gap for exactly that account/region/service, the cycle completes with exit 3, no
    finding is resolved by absence; the late result is discarded, never written."""
    config = _config(tmp_path, postgres_url, moto, queue, unit_timeout_seconds=6)
    spawn(config, "steady")
    first = run_cycle(load_settings(config), options=OPTIONS)
    assert first.snapshot.complete

    with HoldingHttpProxy(moto.url) as proxy:
        proxy.hold()
        stuck = spawn(config, "stuck", endpoint=proxy.url, concurrency=1)
        leader = Leader(config)
        proxy.wait_until_holding(30)
        result = leader.join(60)
    held = [r for r in _rows(postgres_url, result.cycle_id) if r.worker and "stuck" not in r.worker]
    assert held  # the steady worker did the rest

    (gap,) = result.snapshot.gaps
    assert gap.error_code == "UnitTimeout"
    row = next(
        r
        for r in _rows(postgres_url, result.cycle_id)
        if (r.account, r.region, r.service) == (gap.account, gap.region, gap.service.value)
    )
    assert (row.state, row.error) == ("expired", "UnitTimeout")
    assert result.exit_code(Severity.CRITICAL) is ExitCode.INCOMPLETE
    assert result.delta.resolved == ()
    hidden = {
        t.id
        for t in first.delta.open
        if (t.finding.resource.account, t.finding.resource.region) == (gap.account, gap.region)
        and t.finding.resource.kind in gap.kinds
    }
    assert hidden
    assert hidden <= {t.id for t in result.delta.open}
    late = wait_for(
        "the stuck worker's late result",
        lambda: [u for u in stuck.units() if u["cycle_id"] == result.cycle_id],
        30,
    )
    assert [u["outcome"] for u in late] == ["discarded"]


def test_sigterm_lets_the_running_unit_finish_then_exits_0(
    moto: Moto,
    leader_env: None,
    local_inventory: CycleResult,
    queue: str,
    spawn: Any,
    tmp_path: Path,
    postgres_url: str,
) -> None:
    """Warm shutdown: the unit in hand is finished and written once, the process exits 0,
    the units it had not taken stay queued for the next worker; the cycle is complete."""
    config = _config(tmp_path, postgres_url, moto, queue, unit_timeout_seconds=60)
    with HoldingHttpProxy(moto.url) as proxy:
        proxy.hold()
        first = spawn(config, "first", endpoint=proxy.url, concurrency=1)
        leader = Leader(config)
        proxy.wait_until_holding(30)
        first.proc.send_signal(signal.SIGTERM)
        wait_for("the warm shutdown to begin", lambda: first.events("worker_stopping"), 20)
        proxy.release()
        assert first.proc.wait(timeout=30) == 0
        spawn(config, "second")
        result = leader.join(60)

    finished = [u for u in first.units() if u["cycle_id"] == result.cycle_id]
    assert [u["outcome"] for u in finished] == ["done"]
    assert first.events("worker_stopped")
    assert result.snapshot.complete
    assert _inventory(result) == _inventory(local_inventory)
    assert {r.deliveries for r in _rows(postgres_url, result.cycle_id)} == {1}


def test_no_worker_running_is_a_gap_per_unit_not_a_hang(
    moto: Moto, leader_env: None, queue: str, tmp_path: Path, postgres_url: str
) -> None:
    """Nobody consumes the queue: after unit_timeout_seconds without progress every unit
    is a gap (NoWorker), exit 3."""
    config = _config(tmp_path, postgres_url, moto, queue, unit_timeout_seconds=2)
    began = time.monotonic()
    result = run_cycle(load_settings(config), options=OPTIONS)
    assert time.monotonic() - began < 20
    assert {g.error_code for g in result.snapshot.gaps} == {"NoWorker"}
    assert len(result.snapshot.gaps) == UNITS
    assert result.exit_code(Severity.CRITICAL) is ExitCode.INCOMPLETE


def test_stopped_broker_is_a_gap_per_unit_within_seconds(
    moto: Moto, leader_env: None, queue: str, tmp_path: Path, postgres_url: str
) -> None:
    """The broker's port is closed: every unit is a BrokerUnavailable gap, exit 3, and the
    leader reports it within seconds."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    settings = {"broker": f"redis://127.0.0.1:{closed}/0", "queue": queue}
    config = write_config(tmp_path, postgres_url, moto.key, workers=settings)
    began = time.monotonic()
    result = run_cycle(load_settings(config), options=OPTIONS)
    assert time.monotonic() - began < 30
    assert {g.error_code for g in result.snapshot.gaps} == {"BrokerUnavailable"}
    assert {(g.account, g.region, g.service.value) for g in result.snapshot.gaps} == {
        (a, r, s) for a in ACCOUNTS for r in REGIONS for s in SERVICES
    }
    assert result.exit_code(Severity.CRITICAL) is ExitCode.INCOMPLETE

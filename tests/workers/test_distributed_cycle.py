"""A cycle through worker processes is the same cycle as in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from auditor.pipeline import CycleOptions, CycleResult, run_cycle
from auditor.settings import load_settings
from auditor.store import Store
from tests.workers.conftest import ACCOUNTS, REGIONS, SERVICES, Moto, broker_url, write_config

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

UNITS = len(ACCOUNTS) * len(REGIONS) * len(SERVICES)
OPTIONS = CycleOptions(write_report=False, send_alerts=False)


def _inventory(result: CycleResult) -> set[tuple[str, str]]:
    return {(r.arn, r.config_hash) for r in result.snapshot.resources}


def _findings(result: CycleResult) -> set[tuple[str, str]]:
    return {(f.id, f.status.value) for f in result.evaluation.findings}


def _work_rows(url: str, cycle_id: str) -> list[Any]:
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text(
                        "SELECT account, region, service, state, deliveries FROM work_units "
                        "WHERE cycle_id = :c"
                    ),
                    {"c": cycle_id},
                ).all()
            )
    finally:
        store.close()


def test_two_workers_collect_what_one_process_collects(
    moto: Moto, leader_env: None, queue: str, spawn: Any, tmp_path: Path, postgres_url: str
) -> None:
    """Same resources (ARN and configuration) and the same findings; every unit done once,
    by one of the two workers, each logging one line per unit."""
    local = run_cycle(
        load_settings(write_config(tmp_path, f"sqlite:///{tmp_path}/local.db", moto.key)),
        options=OPTIONS,
    )
    assert local.snapshot.complete
    assert len(local.snapshot.resources) > 0

    workers = {"broker": broker_url(), "queue": queue, "unit_timeout_seconds": 60}
    config = write_config(tmp_path, postgres_url, moto.key, workers=workers, name="dist.yaml")
    a = spawn(config, "worker-a")
    b = spawn(config, "worker-b")
    done: list[Any] = []
    distributed = run_cycle(
        load_settings(config),
        options=CycleOptions(write_report=False, send_alerts=False, progress=done.append),
    )

    assert distributed.snapshot.complete
    assert _inventory(distributed) == _inventory(local)
    assert _findings(distributed) == _findings(local)
    assert len(done) == UNITS
    assert {u.outcome for u in done} == {"done"}
    rows = _work_rows(postgres_url, distributed.cycle_id)
    assert len(rows) == UNITS
    assert {r.state for r in rows} == {"done"}
    assert {r.deliveries for r in rows} == {1}
    lines = [u for w in (a, b) for u in w.units() if u["cycle_id"] == distributed.cycle_id]
    assert sorted((u["account"], u["region"], u["service"]) for u in lines) == sorted(
        (r.account, r.region, r.service) for r in rows
    )
    assert all(u["outcome"] == "done" and "duration_s" in u for u in lines)
    # each worker assumes the role of each account it met once: the only extra calls
    extra = dict(distributed.snapshot.api_calls)
    extra.pop("sts:AssumeRole")
    assert extra == {k: v for k, v in local.snapshot.api_calls.items() if k != "sts:AssumeRole"}


def test_workers_status_shows_connected_workers_and_queue_depth(
    moto: Moto, queue: str, spawn: Any, tmp_path: Path, postgres_url: str, capsys: Any
) -> None:
    """Units waiting with no worker show as queue depth; a started worker shows with its
    concurrency (and drains the queue: units with no row are skipped, not run)."""
    import json

    from auditor.cli import main
    from auditor.workers.app import TASK_NAME, make_app

    workers = {"broker": broker_url(), "queue": queue, "max_units_per_process": 3}
    config = write_config(tmp_path, postgres_url, moto.key, workers=workers)
    app = make_app(load_settings(config).workers)
    message = {
        "v": 1,
        "cycle_id": "no-such-cycle",
        "account": ACCOUNTS[0],
        "role_arn": None,
        "region": REGIONS[0],
        "service": "ec2",
    }
    for _ in range(3):
        app.send_task(TASK_NAME, args=[message], queue=queue)

    assert main(["workers", "status", "--config", str(config), "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert (before["queued"], before["workers"]) == (3, [])

    worker = spawn(config, "worker", concurrency=3)
    from tests.daemon.processes import wait_for

    wait_for("the queue to drain", lambda: len(worker.units()) == 3, 30)
    assert {u["outcome"] for u in worker.units()} == {"skipped"}
    # three units were its max_units_per_process: it recycles itself (exit 0)
    assert worker.proc.wait(timeout=30) == 0
    assert worker.events("worker_recycling")

    spawn(config, "second", concurrency=3)

    def status() -> dict[str, Any]:
        assert main(["workers", "status", "--config", str(config), "--json"]) == 0
        return dict(json.loads(capsys.readouterr().out))

    after = wait_for("the new worker to answer", lambda: (s := status())["workers"] and s, 30)
    assert after["queued"] == 0
    assert [(w["concurrency"], w["active"]) for w in after["workers"]] == [(3, 0)]

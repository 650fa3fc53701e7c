"""The documented single-process mode: `auditor run` on a SQLite file."""

from __future__ import annotations

import signal
from pathlib import Path

from auditor.store import Store
from tests.daemon.conftest import Fleet
from tests.daemon.processes import DaemonProcess, aws_env, write_config


def test_one_process_on_sqlite_runs_cycles_and_stops_cleanly(fleet: Fleet, tmp_path: Path) -> None:
    """With a SQLite store the daemon leads alone, commits cycles, is ready, and exits 0
    on SIGTERM with every logged cycle in the file."""
    url = f"sqlite:///{tmp_path}/auditor.db"
    daemon = DaemonProcess(write_config(tmp_path, url, fleet.key), aws_env(fleet.endpoint_url))
    try:
        daemon.wait_cycles(1)
        assert 200 == daemon.get("/readyz")[0]
        daemon.signal(signal.SIGTERM)
        assert 0 == daemon.wait(timeout=30)
    finally:
        daemon.close()
    store = Store.open(url)
    try:
        committed = {c.id for c in store.list_cycles(limit=100)}
    finally:
        store.close()
    assert {c["cycle_id"] for c in daemon.cycles()} == committed

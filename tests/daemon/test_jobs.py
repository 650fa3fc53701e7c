"""The daemon's other scheduled jobs: retention forgets history past schedule.retention_days,
and schedule.report publishes a signed report of the latest cycle; only the leader does
either, and both are registered on the schedule the docs give."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger

from auditor.daemon import Daemon
from auditor.model import FixedClock
from auditor.pipeline import CycleResult
from auditor.report.signing import generate_ed25519_pem, write_private_key
from auditor.report.verify import verify_chain
from auditor.settings import Settings
from auditor.store import CycleRecord, Store
from tests.store.builders import T0, instance, snapshot

DAY = timedelta(days=1)


def _settings(tmp_path: Path, **schedule: object) -> Settings:
    key = tmp_path / "auditor-signing.key"
    if not key.exists():
        write_private_key(key, generate_ed25519_pem())
    return Settings(
        store=f"sqlite:///{tmp_path}/auditor.db",
        schedule={"scan": "every 1h", "jitter_seconds": 0, **schedule},
        metrics={"listen": "127.0.0.1:0"},
        reports={"dir": str(tmp_path / "reports")},
        signing={"key_file": str(key)},
        regions=["eu-west-1"],
    )


def _history(store: Store) -> None:
    """Cycles on days 0, 1 and 40 (the latest)."""
    for day in (0, 1, 40):
        snap = snapshot(f"c{day}", (instance(1, at=T0 + day * DAY),), at=T0 + day * DAY)
        store.commit_cycle(CycleRecord(snapshot=snap, evaluation=None, tracked=()))


def _no_cycle(store: Store) -> CycleResult:
    raise AssertionError("these tests run no cycle")


def _cycle_ids(store: Store) -> set[str]:
    return {c.id for c in store.list_cycles(limit=100)}


def test_retention_forgets_old_cycles_on_the_leader_only(tmp_path: Path) -> None:
    """With retention_days 30 at day 45, days 0 and 1 go and the latest stays; a replica
    that does not lead prunes nothing."""
    settings = _settings(tmp_path, retention_days=30)
    store = Store.open(settings.store)
    _history(store)
    clock = FixedClock(T0 + 45 * DAY)
    daemon = Daemon(settings, store=store, clock=clock, runner=_no_cycle)
    try:
        daemon.retention()  # not leader yet
        assert {"c0", "c1", "c40"} == _cycle_ids(store)
        daemon.is_leader = True
        daemon.retention()
        assert {"c40"} == _cycle_ids(store)
    finally:
        store.close()


def test_report_job_publishes_a_verifiable_report_of_the_latest_cycle(tmp_path: Path) -> None:
    """schedule.report: the leader signs a bundle of the latest stored cycle; it verifies and
    starts the chain; a follower publishes nothing."""
    settings = _settings(tmp_path, report="0 6 * * *")
    store = Store.open(settings.store)
    _history(store)
    daemon = Daemon(settings, store=store, clock=FixedClock(T0 + 41 * DAY), runner=_no_cycle)
    reports = tmp_path / "reports"
    try:
        daemon.report()  # follower
        assert not reports.exists() or not any(reports.iterdir())
        daemon.is_leader = True
        daemon.report()
        bundles = [p for p in reports.iterdir() if (p / "manifest.sig").is_file()]
        assert 1 == len(bundles)
        assert verify_chain(reports).ok
    finally:
        store.close()


def test_retention_and_report_are_scheduled_as_documented(tmp_path: Path) -> None:
    """Retention daily at 03:17 UTC; the report on its own cron; no report job without one."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with_report = Daemon(_settings(tmp_path / "a", report="0 6 * * *"), runner=_no_cycle)
    without = Daemon(_settings(tmp_path / "b"), runner=_no_cycle)
    try:
        with_report.start()
        without.start()
        retention = with_report.scheduler.get_job("retention")
        report = with_report.scheduler.get_job("report")
        assert isinstance(retention.trigger, CronTrigger)
        assert "hour='3', minute='17'" in str(retention.trigger)
        assert "hour='6', minute='0'" in str(report.trigger)
        assert without.scheduler.get_job("report") is None
    finally:
        with_report.stop(grace=1)
        without.stop(grace=1)

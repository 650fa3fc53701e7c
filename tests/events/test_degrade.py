"""The feed going away: /readyz and metrics say so, the full schedule is back in force, and
the report's coverage states it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.daemon import Daemon
from auditor.events.loop import FeedLoop
from auditor.report.signing import generate_ed25519_pem, write_private_key
from tests.events.conftest import World

pytestmark = pytest.mark.slow


def test_feed_going_away_falls_back_to_the_schedule(world: World, tmp_path: Path) -> None:
    key = tmp_path / "signing.key"
    write_private_key(key, generate_ed25519_pem())
    s = world.settings
    settings = s.model_copy(
        update={
            "events": s.events.model_copy(update={"healthy_scan": "every 6h"}),
            "schedule": s.schedule.model_copy(update={"scan": "every 15m"}),
            "signing": s.signing.model_copy(update={"key_file": key}),
            "reports": s.reports.model_copy(update={"dir": tmp_path / "reports"}),
            "metrics": s.metrics.model_copy(update={"listen": "127.0.0.1:0"}),
        }
    )
    world.cycler.settings = settings
    daemon = Daemon(settings, store=world.store)
    loop = FeedLoop(
        world.feed,
        world.cycler,
        lambda: world.store,
        work_lock=daemon._work_lock,
        leading=lambda: True,
        metrics=daemon.metrics,
    )
    daemon.attach_feed(loop)
    daemon._set_leader(True)

    loop.step()  # an empty queue read: healthy
    healthy = daemon.cycle()
    assert healthy is not None
    assert healthy.report_dir is not None
    assert daemon.cycle() is None  # reconciliation runs on healthy_scan while the feed is healthy
    ready, why = daemon.ready()
    assert ready
    assert why.startswith("ok")
    report = json.loads((healthy.report_dir / "report.json").read_text())
    assert report["coverage"]["events"]["healthy"] is True

    world.client("sqs").delete_queue(QueueUrl=settings.events.queue_url)
    loop.step()

    ready, why = daemon.ready()
    assert not ready
    assert why.startswith("event feed unhealthy: queue unreachable")
    assert "full schedule (every 15m)" in why
    assert daemon.metrics.feed_healthy.labels(queue="auditor-events")._value.get() == 0
    fallback = daemon.cycle()  # the full schedule is in force again
    assert fallback is not None
    assert fallback.report_dir is not None
    coverage = json.loads((fallback.report_dir / "report.json").read_text())["coverage"]
    assert coverage["events"]["healthy"] is False
    assert "UNHEALTHY" in coverage["statement"]
    assert coverage["events"]["unhealthy_since"]
    daemon.health.stop()


def test_the_feed_thread_runs_micro_cycles_while_leading(world: World) -> None:
    """The daemon's feed thread: an event put on the bus is audited without anyone polling."""
    import threading

    from auditor.metrics import Metrics
    from tests.daemon.processes import wait_for
    from tests.events import cloudtrail as ct

    leading = threading.Event()
    loop = FeedLoop(
        world.feed,
        world.cycler,
        lambda: world.store,
        work_lock=threading.Lock(),
        leading=leading.is_set,
        metrics=Metrics(),
    )
    loop.start()
    try:
        world.put(ct.start_session(world.ids["pet"], event_id="ev-thread"))
        leading.set()
        wait_for("the access finding", lambda: world.open("access.ssm_session"), timeout=60)
    finally:
        assert loop.stop(timeout=30)
    assert loop.metrics.micro_cycles._value.get() == 1

"""`auditor run` with `events:` as a real process: the feed thread picks an event up from the
queue, the micro-cycle commits the finding, /metrics counts it, SIGTERM stops it cleanly."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from auditor.report.signing import generate_ed25519_pem, write_private_key
from tests.daemon.processes import DaemonProcess, aws_env, wait_for
from tests.events import cloudtrail as ct
from tests.events.conftest import World

pytestmark = pytest.mark.slow


def test_auditor_run_reads_the_feed(make_world: Callable[..., World], tmp_path: Path) -> None:
    world = make_world()
    key = tmp_path / "signing.key"
    write_private_key(key, generate_ed25519_pem())
    config = tmp_path / "auditor.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": world.settings.store,
                "regions": [ct.REGION],
                "services": ["ec2", "ecs"],
                "schedule": {"scan": "every 1h", "jitter_seconds": 0, "leader_lease_seconds": 6},
                "reports": {"dir": str(tmp_path / "reports")},
                "signing": {"key_file": str(key)},
                "metrics": {"listen": "127.0.0.1:0"},
                "events": {"queue_url": world.settings.events.queue_url, "wait_seconds": 1},
            }
        )
    )
    daemon = DaemonProcess(config, aws_env(world.endpoint))
    try:
        world.put(ct.start_session(world.ids["pet"], event_id="ev-run"))
        wait_for(
            "a micro-cycle", lambda: (daemon.metric("auditor_micro_cycles_total") or 0) >= 1, 90
        )
        assert len(world.open("access.ssm_session")) == 1
        assert daemon.metric("auditor_event_feed_healthy", {"queue": "auditor-events"}) == 1
        status, body = daemon.get("/readyz")
        assert 200 == status
        assert body.startswith("ok")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(60) == 0
    finally:
        daemon.close()

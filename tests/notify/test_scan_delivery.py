"""`auditor scan` delivers alerts through the one delivery path, with the configured
per-request timeout (slack.timeout_seconds) reaching the HTTP transport.

A real `auditor scan` subprocess against a moto server process and a real HTTP server on
127.0.0.1 standing in for Slack, which holds the first request open without answering.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.processes import MotoProcess, aws_env
from tests.notify.fakeslack import WEBHOOK_PATH, FakeSlack

pytestmark = pytest.mark.slow

REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server process with one instance that has an SSH key pair (a high finding)."""
    server = MotoProcess(tmp_path_factory.mktemp("moto") / "moto.log")
    server.launch_with_ssh_key(REGION)
    yield server.url
    server.stop()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = FakeSlack()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_slack_timeout_seconds_reaches_the_transport_on_the_scan_path(
    moto_endpoint: str, slack: FakeSlack, tmp_path: Path
) -> None:
    """Slack holds the first request open: with `slack.timeout_seconds: 1` the scan gives up
    on it after about a second (the 10 s default would hold it ten times longer), retries,
    and the alert is delivered by the second request; the cycle's result is unchanged."""
    config = tmp_path / "auditor.yaml"
    config.write_text(
        f"store: sqlite:///{tmp_path / 'auditor.db'}\n"
        f"regions: [{REGION}]\n"
        "services: [ec2]\n"
        "slack: {timeout_seconds: 1}\n"
    )
    env = aws_env(moto_endpoint)
    env.update(AUDITOR_SLACK_WEBHOOK=slack.webhook_url, MOTO_EC2_LOAD_DEFAULT_AMIS="false")
    slack.hang_next()
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "scan", "--config", str(config), "--no-report"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert 1 == done.returncode, done.stderr
    assert 1 == len(slack.abandoned_after)
    assert slack.abandoned_after[0] < 5.0
    headers = [p["blocks"][0]["text"]["text"] for p in slack.payloads(WEBHOOK_PATH)]
    assert headers[0].startswith(":rotating_light: 2 new violations")
    assert len(headers) == len(set(headers))  # each alert delivered once
    assert slack.webhook_url not in done.stdout + done.stderr

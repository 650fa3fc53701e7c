"""The scan path delivers alerts through the one delivery path, with the configured
per-request timeout (slack.timeout_seconds) reaching the transport."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from auditor.aws import AwsSessions
from auditor.model import JSON
from auditor.notify import SendResult
from auditor.pipeline import CycleOptions, run_cycle
from auditor.settings import Settings
from auditor.store import Store


class RecordingTransport:
    """A transport of our own interface that records the timeout of every request."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def send(self, destination: str, payload: Mapping[str, JSON], timeout: float) -> SendResult:
        self.timeouts.append(timeout)
        return SendResult(ok=True)


def test_slack_timeout_seconds_reaches_the_transport_on_the_scan_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle with a violation queues an alert and delivers it with slack.timeout_seconds."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.setenv("AUDITOR_SLACK_WEBHOOK", "https://hooks.slack.example/services/T/B/X")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        ec2.create_key_pair(KeyName="ops")
        ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, KeyName="ops")
        settings = Settings(
            store=f"sqlite:///{tmp_path}/auditor.db",
            regions=["us-east-1"],
            services=["ec2"],
            slack={"timeout_seconds": 7.5},
        )
        transport = RecordingTransport()
        store = Store.open(settings.store)
        try:
            result = run_cycle(
                settings,
                sessions=AwsSessions(base=boto3.Session(region_name="us-east-1")),
                store=store,
                options=CycleOptions(write_report=False, remediate=False, transport=transport),
            )
        finally:
            store.close()
    assert result.alerts_sent >= 1
    assert transport.timeouts
    assert {7.5} == set(transport.timeouts)

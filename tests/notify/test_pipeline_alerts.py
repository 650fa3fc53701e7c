"""Alerts through the whole pipeline, as production sends them: three cycles on the SQL store,
in enforce mode against moto, delivering to a real local HTTP server standing in for Slack,
with one collection gap that persists across midnight. Each kind of news reaches Slack once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auditor.aws import AwsSessions
from auditor.model import FixedClock
from auditor.pipeline import CycleOptions, CycleResult, run_cycle
from auditor.settings import Settings
from auditor.store import Store
from tests.notify.fakeslack import FakeSlack
from tests.notify.helpers import all_text

REGION = "us-east-1"


class _Denied:
    status_code = 403


def _deny_list_clusters(**_: object) -> tuple[_Denied, dict[str, object]]:
    error = {"Code": "AccessDeniedException", "Message": "not authorized: ecs:ListClusters"}
    return _Denied(), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}


def _kind(payload: dict[str, Any]) -> str:
    text = all_text(payload)
    for marker, kind in (
        ("new violation", "new"),
        ("resolved", "resolved"),
        ("could not be read", "coverage"),
        ("Coverage incomplete", "coverage"),
        ("terminate_instance", "action"),
    ):
        if marker in text:
            return kind
    return "other"


def _seed() -> str:
    """A pet launched with an SSH key (high: alerted), and a group whose members remediation
    may replace one at a time (enforce mode, ec2.max_age)."""
    ec2 = boto3.client("ec2", region_name=REGION)
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    ec2.create_key_pair(KeyName="ops")
    pet = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, KeyName="ops")
    template = ec2.create_launch_template(
        LaunchTemplateName="web",
        LaunchTemplateData={
            "ImageId": "ami-12345678",
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        },
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web",
        MinSize=2,
        MaxSize=4,
        DesiredCapacity=2,
        AvailabilityZones=[f"{REGION}a"],
        LaunchTemplate={"LaunchTemplateId": template, "Version": "1"},
    )
    return str(pet["Instances"][0]["InstanceId"])


def test_new_resolved_and_a_gap_across_midnight_reach_slack_exactly_once(
    slack_server: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cycle 1 (23:40): a new violation and a gap. Cycle 2 (23:55): nothing new. Cycle 3
    (00:10, next day): the violation resolved, the same gap still there. Slack hears of the
    violation once, its resolution once and the gap once; executed actions are announced."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    day = (datetime.now(UTC) + timedelta(days=60)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    times = [day + timedelta(hours=23, minutes=40), day + timedelta(hours=23, minutes=55)]
    times.append(day + timedelta(days=1, minutes=10))
    settings = Settings(
        store=f"sqlite:///{tmp_path}/auditor.db",
        regions=[REGION],
        services=["ec2", "ecs"],
        slack={"min_severity": "high"},
        remediation={
            "mode": "enforce",
            "rules": ["ec2.max_age"],
            "min_consecutive_cycles": 1,
            "asg_strategy": "terminate-one",
            "max_percent_per_group": 50,
        },
    )
    results: list[CycleResult] = []
    with mock_aws():
        pet = _seed()
        base = boto3.Session(region_name=REGION)
        base.events.register("before-call.ecs.ListClusters", _deny_list_clusters)
        store = Store.open(settings.store)
        try:
            for n, at in enumerate(times):
                if n == 2:  # the pet is replaced by a proper deployment: its finding resolves
                    boto3.client("ec2", region_name=REGION).terminate_instances(InstanceIds=[pet])
                results.append(
                    run_cycle(
                        settings,
                        clock=FixedClock(at),
                        sessions=AwsSessions(base=base),
                        store=store,
                        options=CycleOptions(write_report=False),
                    )
                )
        finally:
            store.close()
    assert all(not r.snapshot.complete for r in results)  # the gap persisted throughout
    kinds = [_kind(p) for p in slack_server.payloads()]
    assert 1 == kinds.count("new"), kinds
    assert 1 == kinds.count("resolved"), kinds
    assert 1 == kinds.count("coverage"), kinds
    assert kinds.count("action") >= 1, kinds
    assert 0 == sum(r.alerts_pending for r in results)

"""Whole cycles against moto: collect, evaluate, plan, execute, then collect again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auditor.aws import AwsSessions
from auditor.model import ActionStatus, FixedClock
from auditor.pipeline import CycleOptions, CycleResult, run_cycle
from auditor.settings import Settings

QUIET = CycleOptions(write_report=False, send_alerts=False)
READ_PREFIXES = ("Describe", "List", "Get")


@pytest.fixture
def web_asg() -> Iterator[None]:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        ec2.create_launch_template(
            LaunchTemplateName="web",
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
        )
        boto3.client("autoscaling", region_name="us-east-1").create_auto_scaling_group(
            AutoScalingGroupName="web",
            LaunchTemplate={"LaunchTemplateName": "web", "Version": "1"},
            MinSize=1,
            MaxSize=6,
            DesiredCapacity=3,
            AvailabilityZones=["us-east-1a"],
        )
        yield


def settings(tmp_path: Path, mode: str) -> Settings:
    remediation: dict[str, Any] = {
        "mode": mode,
        "rules": ["ec2.max_age"],
        "min_consecutive_cycles": 1,
        "max_percent_per_group": 34,
        "asg_strategy": "terminate-one",
    }
    return Settings(
        regions=("us-east-1",),
        services=("ec2",),  # type: ignore[arg-type]
        store=f"sqlite:///{tmp_path / 'auditor.db'}",
        remediation=remediation,  # type: ignore[arg-type]
    )


def max_age_instances(result: CycleResult) -> set[str]:
    return {f.resource.id for f in result.evaluation.findings if f.rule_id == "ec2.max_age"}


def group_members() -> set[str]:
    client = boto3.client("autoscaling", region_name="us-east-1")
    group = client.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][
        0
    ]
    return {i["InstanceId"] for i in group["Instances"]}


def test_terminate_one_replaces_and_the_next_scan_no_longer_reports_it(
    web_asg: None, tmp_path: Path
) -> None:
    """Enforce: cycle 1 terminates one 40-day-old instance; the group launches a new one,
    and cycle 2 no longer reports the terminated instance."""
    clock = FixedClock(datetime.now(UTC) + timedelta(days=40))
    cfg = settings(tmp_path, "enforce")
    before = group_members()

    first = run_cycle(cfg, clock=clock, options=QUIET)

    [done] = [a for a in first.actions if a.status is ActionStatus.EXECUTED]
    assert "terminate_instance" == done.action
    victim = done.response["instances"][0] if done.response else None  # type: ignore[index]
    assert victim in max_age_instances(first)
    after = group_members()
    assert 3 == len(after)
    assert victim not in after
    assert 1 == len(after - before)

    second = run_cycle(cfg, clock=FixedClock(clock.now() + timedelta(minutes=15)), options=QUIET)
    assert victim not in max_age_instances(second)
    assert victim in {t.finding.resource.id for t in second.delta.resolved}


def test_dry_run_cycle_sends_only_read_requests(web_asg: None, tmp_path: Path) -> None:
    """A whole dry-run cycle over violating instances sends no mutating request, yet plans."""
    sessions = AwsSessions()
    clock = FixedClock(datetime.now(UTC) + timedelta(days=40))
    before = group_members()

    result = run_cycle(settings(tmp_path, "dry-run"), clock=clock, sessions=sessions, options=QUIET)

    assert 1 == len([a for a in result.actions if a.status is ActionStatus.PLANNED])
    assert sessions.counter.total > 0  # the counter did see the collection
    writes = {op for op in sessions.counter.calls if not op.split(":")[1].startswith(READ_PREFIXES)}
    assert set() == writes
    assert before == group_members()

"""Dry-run makes zero AWS calls, counted by a botocore before-call hook, over a fleet of
violations that enforce mode does act on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auditor.model import ActionStatus, FixedClock, TrackedFinding
from auditor.remediate.executor import execute
from auditor.remediate.plan import Plan
from auditor.remediate.planner import plan
from tests.conftest import NOW
from tests.remediate import builders as b


class CountingClients:
    """Clients of one session whose every API call is counted before it is sent."""

    def __init__(self) -> None:
        self.session = boto3.Session(region_name=b.REGION)
        self.calls: list[str] = []
        self.session.events.register("before-call", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def __call__(self, account: str, region: str, service: str) -> Any:
        return self.session.client(service, region_name=region)  # type: ignore[call-overload]


@pytest.fixture
def fleet() -> Iterator[tuple[list[TrackedFinding], b.SnapshotView]]:
    """Five ASGs and three ECS services in moto, every instance and task violating."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=b.REGION)
        ec2.create_launch_template(
            LaunchTemplateName="fleet", LaunchTemplateData={"ImageId": "ami-12c6146b"}
        )
        asg = boto3.client("autoscaling", region_name=b.REGION)
        ecs = boto3.client("ecs", region_name=b.REGION)
        ecs.create_cluster(clusterName="prod")
        ecs.register_task_definition(
            family="web", containerDefinitions=[{"name": "w", "image": "nginx", "memory": 64}]
        )
        resources = []
        findings = []
        for g in range(5):
            name = f"g{g}"
            asg.create_auto_scaling_group(
                AutoScalingGroupName=name,
                LaunchTemplate={"LaunchTemplateName": "fleet", "Version": "1"},
                MinSize=1,
                MaxSize=8,
                DesiredCapacity=4,
                AvailabilityZones=["us-east-1a"],
            )
            described = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
                "AutoScalingGroups"
            ][0]
            ids = [i["InstanceId"] for i in described["Instances"]]
            resources.append(b.asg(name, ids, min_size=1))
            for i in ids:
                inst = b.instance(i, asg=name)
                resources.append(inst)
                findings.append(b.tracked("ec2.max_age", inst))
        for s in range(3):
            ecs.create_service(
                cluster="prod", serviceName=f"s{s}", taskDefinition="web", desiredCount=4
            )
            resources.append(b.ecs_service(f"s{s}", desired=4))
            task = b.ecs_task(f"t{s}", f"s{s}")
            resources.append(task)
            findings.append(b.tracked("ecs.task_max_age", task))
        yield findings, b.view_of(*resources)


def make(findings: list[TrackedFinding], view: b.SnapshotView, mode: str, strategy: str) -> Plan:
    cfg = b.config(
        mode=mode, asg_strategy=strategy, max_actions_per_cycle=20, max_actions_per_account=20
    )
    return plan(findings, view, b.RULES, cfg, (), NOW, "c1", False)


@pytest.mark.parametrize("strategy", ["instance-refresh", "terminate-one"])
def test_dry_run_makes_zero_calls(
    fleet: tuple[list[TrackedFinding], b.SnapshotView], strategy: str
) -> None:
    """Every group is planned, and executing the dry-run plan sends no request at all."""
    findings, view = fleet
    p = make(findings, view, "dry-run", strategy)
    assert 8 == len(p.planned)
    clients = CountingClients()
    records = execute(p, clients, "dry-run", FixedClock(NOW), environ={})
    assert [] == clients.calls
    assert [ActionStatus.PLANNED] * 8 == [r.status for r in records if r.response]
    assert all(
        r.response and r.response["dry_run"] is True
        for r in records
        if r.status is ActionStatus.PLANNED
    )


def test_enforce_plan_run_in_dry_run_mode_makes_zero_calls(
    fleet: tuple[list[TrackedFinding], b.SnapshotView],
) -> None:
    """The executor's mode wins: an enforce plan executed as dry-run sends nothing, while the
    same plan in enforce sends one request per planned item (the counter does count)."""
    findings, view = fleet
    p = make(findings, view, "enforce", "terminate-one")
    quiet = CountingClients()
    execute(p, quiet, "dry-run", FixedClock(NOW), environ={})
    assert [] == quiet.calls
    loud = CountingClients()
    records = execute(p, loud, "enforce", FixedClock(NOW), environ={})
    expected = ["TerminateInstanceInAutoScalingGroup"] * 5 + ["UpdateService"] * 3
    assert sorted(expected) == sorted(loud.calls)
    assert [ActionStatus.EXECUTED] * 8 == [
        r.status for r in records if r.status is not ActionStatus.HELD
    ]


def test_dry_run_plan_executed_in_enforce_mode_makes_zero_calls(
    fleet: tuple[list[TrackedFinding], b.SnapshotView],
) -> None:
    """A plan made under dry-run is never carried out, even by an executor told to enforce."""
    findings, view = fleet
    p = make(findings, view, "dry-run", "terminate-one")
    clients = CountingClients()
    execute(p, clients, "enforce", FixedClock(NOW), environ={})
    assert [] == clients.calls

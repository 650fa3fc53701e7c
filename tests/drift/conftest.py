"""Real cycles on moto (in-process): seed, run the pipeline, change in place, run again.

Each cycle is `pipeline.run_cycle` with a SQLite store (no report, alerts or remediation),
so the history drift rules read comes from the store exactly as in production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auditor.aws import AwsSessions
from auditor.model import FixedClock, Status
from auditor.pipeline import CycleOptions, CycleResult, run_cycle
from auditor.settings import Settings
from auditor.store import Store
from tests.conftest import NOW

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
AZ = f"{REGION}a"
DRIFT_RULES = (
    "drift.ec2_modified_in_place",
    "drift.lt_default_changed",
    "drift.ecs_service_modified",
    "drift.eks_nodegroup_modified",
    "asg.instance_stale",
    "eks.node_stale",
)
QUIET = CycleOptions(write_report=False, send_alerts=False, remediate=False)


@dataclass
class Fleet:
    """What the seed created, by role."""

    amis: list[str]
    template_id: str
    group_instances: list[str]
    pet: str
    service_arn: str
    cluster_arn: str
    task_definition: str
    repositories: list[str] = field(default_factory=list)


@dataclass
class Runner:
    """Runs cycles against one store, each 15 minutes after the previous one."""

    settings: Settings
    store: Store
    cycles: int = 0

    def cycle(self) -> CycleResult:
        clock = FixedClock(NOW + timedelta(minutes=15 * self.cycles))
        self.cycles += 1
        sessions = AwsSessions(base=boto3.Session(region_name=REGION))
        return run_cycle(
            self.settings, clock=clock, sessions=sessions, store=self.store, options=QUIET
        )


def failing(
    result: CycleResult, rules: tuple[str, ...] = DRIFT_RULES
) -> dict[tuple[str, str], Any]:
    """(rule id, resource id) -> finding, for failing findings of `rules`."""
    return {
        (f.rule_id, f.resource.id): f
        for f in result.evaluation.findings
        if f.rule_id in rules and f.status is Status.FAIL
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        yield


def client(service: str) -> Any:
    session: Any = boto3.Session(region_name=REGION)
    return session.client(service)


def _images(n: int) -> list[str]:
    ec2 = client("ec2")
    builder = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)
    builder_id = builder["Instances"][0]["InstanceId"]
    out = [ec2.create_image(InstanceId=builder_id, Name=f"golden-{i}")["ImageId"] for i in range(n)]
    ec2.terminate_instances(InstanceIds=[builder_id])
    return out


def _ec2(amis: list[str]) -> tuple[str, list[str], str]:
    ec2, autoscaling = client("ec2"), client("autoscaling")
    data = {
        "ImageId": amis[0],
        "InstanceType": "t3.micro",
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
    }
    template_id = ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData=data)[
        "LaunchTemplate"
    ]["LaunchTemplateId"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web",
        MinSize=2,
        MaxSize=2,
        DesiredCapacity=2,
        AvailabilityZones=[AZ],
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Default"},
    )
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])
    members = sorted(i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"])
    pet = ec2.run_instances(
        ImageId=amis[0],
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.small",
        UserData="#!/bin/sh\necho hello\n",
    )["Instances"][0]["InstanceId"]
    return template_id, members, pet


def _ecs() -> tuple[str, str, str]:
    ecs = client("ecs")
    cluster = ecs.create_cluster(clusterName="prod")["cluster"]["clusterArn"]
    td = ecs.register_task_definition(
        family="web",
        containerDefinitions=[
            {"name": "web", "image": "public.ecr.aws/nginx/nginx:1.27", "memory": 128}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    service = ecs.create_service(
        cluster="prod", serviceName="web", taskDefinition=td, desiredCount=0
    )["service"]["serviceArn"]
    return cluster, service, td


@pytest.fixture
def fleet(aws: None) -> Fleet:
    amis = _images(2)
    template_id, members, pet = _ec2(amis)
    cluster, service, td = _ecs()
    ecr = client("ecr")
    repos = [
        ecr.create_repository(repositoryName=name, imageTagMutability=mutability)["repository"][
            "repositoryName"
        ]
        for name, mutability in (("web", "IMMUTABLE"), ("scratch", "MUTABLE"))
    ]
    return Fleet(amis, template_id, members, pet, service, cluster, td, repos)


@pytest.fixture
def make_runner(tmp_path: Path) -> Iterator[Callable[..., Runner]]:
    stores: list[Store] = []

    def make(**settings: Any) -> Runner:
        store = Store.open(f"sqlite:///{tmp_path / f'auditor-{len(stores)}.db'}")
        stores.append(store)
        merged: dict[str, Any] = {"regions": (REGION,), "services": ("ec2", "ecs", "ecr")}
        merged.update(settings)
        return Runner(Settings(**merged), store)

    yield make
    for store in stores:
        store.close()

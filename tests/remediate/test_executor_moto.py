"""Enforce mode against moto: the replacement really happens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auditor.model import JSON, ActionStatus, FixedClock, Kind, Resource
from auditor.remediate.executor import execute
from auditor.remediate.planner import plan
from tests.conftest import NOW
from tests.remediate import builders as b

AMI = "ami-12c6146b"  # any id will do: describing moto's catalogue of AMIs takes seconds


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def client_for(account: str, region: str, service: str) -> Any:
    return boto3.client(service, region_name=region)


def seed_asg(desired: int = 3) -> list[str]:
    ec2 = boto3.client("ec2", region_name=b.REGION)
    ec2.create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"}
    )
    asg = boto3.client("autoscaling", region_name=b.REGION)
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchTemplate={"LaunchTemplateName": "web", "Version": "1"},
        MinSize=1,
        MaxSize=6,
        DesiredCapacity=desired,
        AvailabilityZones=["us-east-1a"],
    )
    return group_instance_ids()


def group_instance_ids() -> list[str]:
    asg = boto3.client("autoscaling", region_name=b.REGION)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    return sorted(i["InstanceId"] for i in group["Instances"])


def observed_asg() -> Resource:
    """The ASG as docs/resources.md describes it, read from moto."""
    asg = boto3.client("autoscaling", region_name=b.REGION)
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    attrs: dict[str, JSON] = {
        "AutoScalingGroupName": g["AutoScalingGroupName"],
        "AutoScalingGroupARN": g["AutoScalingGroupARN"],
        "MinSize": g["MinSize"],
        "MaxSize": g["MaxSize"],
        "DesiredCapacity": g["DesiredCapacity"],
        "Instances": [
            {
                "InstanceId": i["InstanceId"],
                "LifecycleState": i["LifecycleState"],
                "HealthStatus": i["HealthStatus"],
            }
            for i in g["Instances"]
        ],
    }
    return b.resource(Kind.ASG, "web", g["AutoScalingGroupARN"], attrs)


def test_terminate_one_replaces_an_old_instance(aws: None) -> None:
    """terminate-one terminates the violating instance without decrementing desired capacity,
    and the group launches a new instance in its place."""
    before = seed_asg(3)
    old = before[0]
    group = observed_asg()
    insts = [b.instance(i, asg="web", launch_days_ago=40 if i == old else 1) for i in before]
    cfg = b.config(asg_strategy="terminate-one", max_percent_per_group=34)
    p = plan(
        [b.tracked("ec2.max_age", insts[0])],
        b.view_of(group, *insts),
        b.RULES,
        cfg,
        (),
        NOW,
        "c1",
        False,
    )
    assert [{"InstanceId": old, "ShouldDecrementDesiredCapacity": False}] == [
        i.request for i in p.planned
    ]

    [record] = execute(p, client_for, "enforce", FixedClock(NOW), environ={})

    assert ActionStatus.EXECUTED is record.status
    assert record.request_id
    after = group_instance_ids()
    assert 3 == len(after)
    assert old not in after
    assert 1 == len(set(after) - set(before))
    ec2 = boto3.client("ec2", region_name=b.REGION)
    state = ec2.describe_instances(InstanceIds=[old])["Reservations"][0]["Instances"][0]["State"]
    assert "terminated" == state["Name"]


def test_next_cycle_holds_the_group_until_the_replacement_is_in(aws: None) -> None:
    """The executed record in history holds the group while the terminated instance is listed,
    and no longer once the group shows its replacement."""
    before = seed_asg(3)
    group = observed_asg()
    insts = [b.instance(i, asg="web") for i in before]
    cfg = b.config(asg_strategy="terminate-one", max_percent_per_group=34)
    findings = [b.tracked("ec2.max_age", i) for i in insts]
    p = plan(findings, b.view_of(group, *insts), b.RULES, cfg, (), NOW, "c1", False)
    history = execute(p, client_for, "enforce", FixedClock(NOW), environ={})
    # a snapshot taken before the group caught up still lists the old instance: held
    stale = plan(findings, b.view_of(group, *insts), b.RULES, cfg, history, NOW, "c2", False)
    assert stale.planned == ()
    assert any("has not finished" in i.record.reason for i in stale.items)
    # the next real observation: the replacement is in, so the next instance may go
    fresh_group = observed_asg()
    now_ids = group_instance_ids()
    fresh_insts = [b.instance(i, asg="web") for i in now_ids]
    remaining = [f for f in findings if f.finding.resource.id in now_ids]
    nxt = plan(
        remaining, b.view_of(fresh_group, *fresh_insts), b.RULES, cfg, history, NOW, "c2", False
    )
    assert 1 == len(nxt.planned)


def test_ecs_force_new_deployment_creates_a_new_deployment(aws: None) -> None:
    """update_service(forceNewDeployment=True) gives the service a new deployment."""
    ecs = boto3.client("ecs", region_name=b.REGION)
    cluster_arn = ecs.create_cluster(clusterName="prod")["cluster"]["clusterArn"]
    ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": "nginx:1.27", "memory": 128}]
    )
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition="web", desiredCount=4)
    svc = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    first_deployment = svc["deployments"][0]["id"]
    attrs: dict[str, JSON] = {
        "serviceArn": svc["serviceArn"],
        "serviceName": "web",
        "clusterArn": cluster_arn,
        "desiredCount": svc["desiredCount"],
        "deployments": [{"id": d["id"], "status": d["status"]} for d in svc["deployments"]],
    }
    service = b.resource(Kind.ECS_SERVICE, "prod/web", svc["serviceArn"], attrs)
    task = b.ecs_task("t1", "web")
    p = plan(
        [b.tracked("ecs.task_max_age", task)],
        b.view_of(service, task),
        b.RULES,
        b.config(),
        (),
        NOW,
        "c1",
        False,
    )

    [record] = execute(p, client_for, "enforce", FixedClock(NOW), environ={})

    assert ActionStatus.EXECUTED is record.status
    after = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    assert first_deployment != after["deployments"][0]["id"]
    assert record.response is not None
    assert "web" == record.response["response"]["service"]["serviceName"]  # type: ignore[index]

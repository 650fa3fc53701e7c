"""User data inferred from the launch template version a group launched an instance from.

An Auto Scaling group (or EKS node group) member launched from an immutable template
version and never stopped since has that version's user data: the version is read once,
no per-instance call. Everything else is read per instance: pets, launch configurations,
instances stopped since launch (whose user data may have been changed), stopped ones.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from moto.backends import get_backend

from auditor.aws import ApiCallCounter
from auditor.collect.base import CollectResult, UnitContext
from auditor.collect.ec2 import collect_ec2
from auditor.model import Kind, Resource

ACCOUNT = "123456789012"
REGION = "us-east-1"
GROUP_USER_DATA = b"#!/bin/sh\necho from-template\n"
CHANGED = b"#!/bin/sh\necho edited-while-stopped\n"


@pytest.fixture(autouse=True)
def _no_default_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


def _instances(result: CollectResult) -> dict[str, Resource]:
    return {r.id: r for r in result.resources if r.kind is Kind.EC2_INSTANCE}


def _calls(counter: ApiCallCounter) -> int:
    return counter.calls.get("ec2:DescribeInstanceAttribute", 0)


def _group(ctx: UnitContext, size: int) -> list[str]:
    ec2, asg = ctx.client("ec2"), ctx.client("autoscaling")
    template = ec2.create_launch_template(
        LaunchTemplateName="web",
        LaunchTemplateData={
            "ImageId": "ami-12345678",
            "InstanceType": "t3.micro",
            "UserData": base64.b64encode(GROUP_USER_DATA).decode(),
        },
    )["LaunchTemplate"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "1"},
        MinSize=size,
        MaxSize=size,
        DesiredCapacity=size,
        AvailabilityZones=[f"{REGION}a"],
    )
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])
    return [i["InstanceId"] for i in groups["AutoScalingGroups"][0]["Instances"]]


def _restart_moves_launch_time(instance_id: str) -> None:
    """AWS moves LaunchTime when a stopped instance starts; moto does not, so do it here."""
    backend: Any = get_backend("ec2")[ACCOUNT][REGION]
    instance = backend.get_instance(instance_id)
    instance.launch_time += timedelta(minutes=5)


def test_group_members_take_the_template_versions_user_data(
    make_ctx: Callable[..., UnitContext], counter: ApiCallCounter
) -> None:
    """Five members and a pet: one DescribeInstanceAttribute (the pet's); the members'
    user data equals what reading it per instance gives."""
    ctx = make_ctx()
    members = _group(ctx, 5)
    pet = ctx.client("ec2").run_instances(
        ImageId="ami-12345678", MinCount=1, MaxCount=1, UserData="echo pet"
    )["Instances"][0]["InstanceId"]

    result = collect_ec2(ctx)

    assert 1 == _calls(counter)
    found = _instances(result)
    ec2 = ctx.client("ec2")
    for member in members:
        read = ec2.describe_instance_attribute(InstanceId=member, Attribute="userData")
        assert GROUP_USER_DATA == base64.b64decode(read["UserData"]["Value"])
        assert found[member].attributes["UserData"]["size"] == len(GROUP_USER_DATA)
        assert found[member].attributes["UserData"]["present"] is True
        assert found[member].unavailable == ()
    assert found[pet].attributes["UserData"]["size"] == len(b"echo pet")


def test_a_member_stopped_and_modified_since_launch_is_read(
    make_ctx: Callable[..., UnitContext], counter: ApiCallCounter
) -> None:
    """Stopped, user data edited, started again: LaunchTime no longer matches the root
    volume's attachment, so its own user data is read and the edit is seen."""
    ctx = make_ctx()
    edited, untouched = _group(ctx, 2)
    ec2 = ctx.client("ec2")
    ec2.stop_instances(InstanceIds=[edited])
    ec2.modify_instance_attribute(InstanceId=edited, UserData={"Value": base64.b64encode(CHANGED)})
    ec2.start_instances(InstanceIds=[edited])
    _restart_moves_launch_time(edited)

    found = _instances(collect_ec2(ctx))

    assert 1 == _calls(counter)
    assert found[edited].attributes["UserData"]["size"] == len(CHANGED)
    assert found[untouched].attributes["UserData"]["size"] == len(GROUP_USER_DATA)


def test_a_stopped_member_is_read(
    make_ctx: Callable[..., UnitContext], counter: ApiCallCounter
) -> None:
    """A member that is stopped now may be being edited: read it."""
    ctx = make_ctx()
    stopped, running = _group(ctx, 2)
    ctx.client("ec2").stop_instances(InstanceIds=[stopped])

    found = _instances(collect_ec2(ctx))

    assert 1 == _calls(counter)
    assert found[running].attributes["UserData"]["size"] == len(GROUP_USER_DATA)


def test_instances_launched_together_are_read_once(
    make_ctx: Callable[..., UnitContext], counter: ApiCallCounter
) -> None:
    """One RunInstances call of four with one UserData: one read stands for the four, and
    equals what each instance returns when read on its own."""
    ctx = make_ctx()
    ec2 = ctx.client("ec2")
    launched = ec2.run_instances(
        ImageId="ami-12345678", MinCount=4, MaxCount=4, UserData="echo together"
    )["Instances"]

    found = _instances(collect_ec2(ctx))

    assert 1 == _calls(counter)
    for inst in launched:
        own = ec2.describe_instance_attribute(InstanceId=inst["InstanceId"], Attribute="userData")
        assert b"echo together" == base64.b64decode(own["UserData"]["Value"])
        assert found[inst["InstanceId"]].attributes["UserData"]["size"] == len(b"echo together")


def test_a_sibling_restarted_since_launch_is_read_on_its_own(
    make_ctx: Callable[..., UnitContext], counter: ApiCallCounter
) -> None:
    """Stopped, edited and started again: it no longer shares its reservation's user data."""
    ctx = make_ctx()
    ec2 = ctx.client("ec2")
    launched = ec2.run_instances(
        ImageId="ami-12345678", MinCount=3, MaxCount=3, UserData="echo together"
    )["Instances"]
    edited = launched[0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[edited])
    ec2.modify_instance_attribute(InstanceId=edited, UserData={"Value": base64.b64encode(CHANGED)})
    ec2.start_instances(InstanceIds=[edited])
    _restart_moves_launch_time(edited)

    found = _instances(collect_ec2(ctx))

    assert 2 == _calls(counter)
    assert found[edited].attributes["UserData"]["size"] == len(CHANGED)
    for inst in launched[1:]:
        assert found[inst["InstanceId"]].attributes["UserData"]["size"] == len(b"echo together")

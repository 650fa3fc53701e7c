"""Auto Scaling groups and the launch templates in use, against moto."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import botocore.exceptions
import pytest

from auditor.aws import ApiCallCounter
from auditor.collect import autoscaling
from auditor.collect.base import CollectResult, UnitContext
from auditor.collect.ec2 import collect_ec2
from auditor.collect.ec2_launch_templates import LaunchTemplateIndex
from auditor.model import FixedClock, Kind, Resource

ACCOUNT = "123456789012"
REGION = "us-east-1"
AZ = f"{REGION}a"
PASSWORD = "Tr0ub4dor&3-not-a-real-one"
LT_USER_DATA = f"#!/bin/sh\nexport DB_PASSWORD={PASSWORD}\n"


@pytest.fixture(autouse=True)
def _no_default_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's 1,300 public AMIs take seconds to load per test; ours are built in the test."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


def _images(ctx: UnitContext, n: int) -> list[str]:
    ec2 = ctx.client("ec2")
    builder = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)
    builder_id = builder["Instances"][0]["InstanceId"]
    out = [ec2.create_image(InstanceId=builder_id, Name=f"golden-{i}")["ImageId"] for i in range(n)]
    ec2.terminate_instances(InstanceIds=[builder_id])
    return out


def _template(ctx: UnitContext, name: str, *versions: dict[str, Any]) -> str:
    """A launch template whose versions 1..n have the given data; default stays 1."""
    ec2 = ctx.client("ec2")
    first, *rest = versions
    template_id = str(
        ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=first)[
            "LaunchTemplate"
        ]["LaunchTemplateId"]
    )
    for data in rest:
        ec2.create_launch_template_version(LaunchTemplateId=template_id, LaunchTemplateData=data)
    return template_id


def _group(ctx: UnitContext, name: str, **kwargs: Any) -> None:
    ctx.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=2, AvailabilityZones=[AZ], **kwargs
    )


def _of(result: CollectResult, kind: Kind) -> dict[str, Resource]:
    return {r.id: r for r in result.resources if r.kind is kind}


def _deny(ctx: UnitContext, service: str, operation: str) -> None:
    def refuse(model: Any, **_: Any) -> None:
        if model.name == operation:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "denied"}}, operation
            )

    ctx.client(service).meta.events.register_last("before-call", refuse)


def test_group_on_latest_resolves_and_its_template_version_is_collected(
    make_ctx: Callable[..., UnitContext], counter: ApiCallCounter
) -> None:
    """A group on `$Latest` keeps the configured string and gets the number it means now;
    that template version is collected with its AMI, groups and redacted user data."""
    ctx = make_ctx()
    ec2 = ctx.client("ec2")
    old_ami, new_ami = _images(ctx, 2)
    sg = ec2.create_security_group(GroupName="app", Description="app")["GroupId"]
    template_id = _template(
        ctx,
        "app",
        {"ImageId": old_ami},
        {
            "ImageId": new_ami,
            "InstanceType": "t3.micro",
            "KeyName": "ops",
            "SecurityGroupIds": [sg],
            "MetadataOptions": {"HttpTokens": "optional"},
            "UserData": base64.b64encode(LT_USER_DATA.encode()).decode(),
        },
    )
    _group(
        ctx,
        "app-asg",
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"},
    )
    before = dict(counter.calls)

    result = collect_ec2(ctx)

    group = _of(result, Kind.ASG)["app-asg"]
    assert group.arn == group.attributes["AutoScalingGroupARN"]
    assert group.attributes["LaunchTemplate"] == {
        "LaunchTemplateId": template_id,
        "LaunchTemplateName": "app",
        "Version": "$Latest",
    }
    assert group.attributes["ResolvedLaunchTemplateVersion"] == "2"
    assert {
        "AutoScalingGroupName", "AutoScalingGroupARN", "LaunchTemplate", "MinSize", "MaxSize", "DesiredCapacity", "CreatedTime", "Instances",
        "ResolvedLaunchTemplateVersion",
    } <= set(group.attributes)  # fmt: skip

    template = _of(result, Kind.EC2_LAUNCH_TEMPLATE)[template_id]
    assert template.arn == f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/{template_id}"
    assert template.attributes["VersionsInUse"] == ["2"]
    assert template.attributes["LatestVersionNumber"] == 2
    assert template.attributes["DefaultVersionNumber"] == 1
    assert list(template.attributes["Versions"]) == ["2"]
    version = template.attributes["Versions"]["2"]
    assert version["VersionNumber"] == 2
    assert str(version["CreateTime"]).endswith("+00:00")
    data = version["LaunchTemplateData"]
    assert {k: data[k] for k in ("ImageId", "InstanceType", "KeyName", "SecurityGroupIds")} == {
        "ImageId": new_ami,
        "InstanceType": "t3.micro",
        "KeyName": "ops",
        "SecurityGroupIds": [sg],
    }
    assert data["MetadataOptions"]["HttpTokens"] == "optional"
    assert data["UserData"]["present"] is True
    assert [s["location"] for s in data["UserData"]["secrets"]] == ["line 2 DB_PASSWORD"]
    assert PASSWORD not in repr(result)

    assert list(_of(result, Kind.EC2_IMAGE)) == [new_ami]
    groups = _of(result, Kind.EC2_SECURITY_GROUP)
    assert groups[sg].attributes["AttachedTo"] == [template.arn]
    calls = {k: v - before.get(k, 0) for k, v in counter.calls.items()}
    assert calls["ec2:DescribeLaunchTemplates"] == 1
    assert calls["ec2:DescribeLaunchTemplateVersions"] == 1
    assert calls["autoscaling:DescribeAutoScalingGroups"] == 1
    assert result.gaps == ()


def test_mixed_instances_policy_template_is_normalized(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """A group using a MixedInstancesPolicy shows its template in `LaunchTemplate` like any
    other; with no version given it follows `$Default`."""
    ctx = make_ctx()
    [ami] = _images(ctx, 1)
    template_id = _template(ctx, "mixed", {"ImageId": ami}, {"ImageId": ami})
    _group(
        ctx,
        "mixed-asg",
        MixedInstancesPolicy={
            "LaunchTemplate": {"LaunchTemplateSpecification": {"LaunchTemplateId": template_id}}
        },
    )

    result = collect_ec2(ctx)

    group = _of(result, Kind.ASG)["mixed-asg"]
    assert group.attributes["LaunchTemplate"]["LaunchTemplateId"] == template_id
    assert group.attributes["ResolvedLaunchTemplateVersion"] == "1"
    template = _of(result, Kind.EC2_LAUNCH_TEMPLATE)[template_id]
    assert template.attributes["VersionsInUse"] == ["1"]


def test_versions_in_use_come_from_groups_and_instances(
    make_ctx: Callable[..., UnitContext], counter: ApiCallCounter
) -> None:
    """An instance launched from version 1 and a group on `$Latest` (3) put both versions
    in use, fetched in one DescribeLaunchTemplateVersions call; version 2 is not fetched."""
    ctx = make_ctx()
    one, two, three = _images(ctx, 3)
    template_id = _template(ctx, "web", {"ImageId": one}, {"ImageId": two}, {"ImageId": three})
    ctx.client("ec2").run_instances(
        MinCount=1, MaxCount=1, LaunchTemplate={"LaunchTemplateId": template_id, "Version": "1"}
    )
    _group(ctx, "web-asg", LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"})
    before = counter.calls.get("ec2:DescribeLaunchTemplateVersions", 0)

    result = collect_ec2(ctx)

    template = _of(result, Kind.EC2_LAUNCH_TEMPLATE)[template_id]
    assert template.attributes["VersionsInUse"] == ["1", "3"]
    assert sorted(template.attributes["Versions"]) == ["1", "3"]
    assert set(_of(result, Kind.EC2_IMAGE)) == {one, three}
    assert counter.calls["ec2:DescribeLaunchTemplateVersions"] - before == 1


def test_groups_are_paged(
    make_ctx: Callable[..., UnitContext],
    counter: ApiCallCounter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every page of DescribeAutoScalingGroups is read (page size lowered to 2)."""
    monkeypatch.setattr(autoscaling, "GROUP_PAGE_SIZE", 2)
    ctx = make_ctx()
    [ami] = _images(ctx, 1)
    template_id = _template(ctx, "paged", {"ImageId": ami})
    names = {f"asg-{n}" for n in range(5)}
    for name in names:
        _group(ctx, name, LaunchTemplate={"LaunchTemplateId": template_id})

    result = collect_ec2(ctx)

    assert set(_of(result, Kind.ASG)) == names
    assert counter.calls["autoscaling:DescribeAutoScalingGroups"] == 3


def test_denied_autoscaling_is_a_gap_and_instances_are_still_collected(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """Without Auto Scaling access, groups (and what they reveal) are a gap; instances and
    their AMIs are still collected."""
    ctx = make_ctx()
    [ami] = _images(ctx, 1)
    inst = ctx.client("ec2").run_instances(ImageId=ami, MinCount=1, MaxCount=1)
    instance_id = inst["Instances"][0]["InstanceId"]
    _deny(ctx, "autoscaling", "DescribeAutoScalingGroups")

    result = collect_ec2(ctx)

    [gap] = result.gaps
    assert gap.operation == "autoscaling:DescribeAutoScalingGroups"
    assert gap.error_code == "AccessDenied"
    assert gap.covers(Kind.ASG, ACCOUNT, REGION)
    assert gap.covers(Kind.EC2_LAUNCH_TEMPLATE, ACCOUNT, REGION)
    assert list(_of(result, Kind.EC2_INSTANCE)) == [instance_id]
    assert list(_of(result, Kind.EC2_IMAGE)) == [ami]


def test_unreadable_template_leaves_resolved_version_unavailable(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """When launch templates cannot be read, a group on `$Latest` is still collected, with
    ResolvedLaunchTemplateVersion unavailable and a gap naming the group."""
    ctx = make_ctx()
    [ami] = _images(ctx, 1)
    template_id = _template(ctx, "secret", {"ImageId": ami})
    _group(ctx, "latest", LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"})
    _group(ctx, "pinned", LaunchTemplate={"LaunchTemplateId": template_id, "Version": "1"})
    _deny(ctx, "ec2", "DescribeLaunchTemplates")

    result = collect_ec2(ctx)

    groups = _of(result, Kind.ASG)
    assert groups["latest"].unavailable == ("ResolvedLaunchTemplateVersion",)
    assert "ResolvedLaunchTemplateVersion" not in groups["latest"].attributes
    assert groups["pinned"].attributes["ResolvedLaunchTemplateVersion"] == "1"
    assert groups["pinned"].unavailable == ()
    listing = [g for g in result.gaps if g.resource_arn is None]
    assert [g.operation for g in listing] == ["ec2:DescribeLaunchTemplates"]
    assert listing[0].covers(Kind.EC2_LAUNCH_TEMPLATE, ACCOUNT, REGION)
    per_group = [g for g in result.gaps if g.resource_arn is not None]
    assert [g.resource_arn for g in per_group] == [groups["latest"].arn]
    assert _of(result, Kind.EC2_LAUNCH_TEMPLATE) == {}


def test_group_attributes_follow_the_contract() -> None:
    """A DescribeAutoScalingGroups entry becomes exactly the documented attributes (fields
    moto does not return, like MaxInstanceLifetime, are checked on an API-shaped entry)."""
    created = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    raw = {
        "AutoScalingGroupName": "legacy",
        "AutoScalingGroupARN": "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:x",
        "LaunchConfigurationName": "lc-1",
        "MaxInstanceLifetime": 604800,
        "MinSize": 1,
        "MaxSize": 3,
        "DesiredCapacity": 2,
        "CreatedTime": created,
        "Status": "Delete in progress",
        "HealthCheckType": "EC2",
        "Tags": [{"Key": "team", "Value": "a", "ResourceId": "legacy", "PropagateAtLaunch": True}],
        "Instances": [
            {
                "InstanceId": "i-1",
                "LaunchConfigurationName": "lc-1",
                "LifecycleState": "InService",
                "HealthStatus": "Healthy",
                "AvailabilityZone": "us-east-1a",
                "ProtectedFromScaleIn": False,
            }
        ],
    }
    ctx = UnitContext(
        account=ACCOUNT,
        region=REGION,
        client=lambda _: None,
        clock=FixedClock(created),
    )

    resource, gap = autoscaling.group_resource(ctx, raw, LaunchTemplateIndex())

    assert gap is None
    assert resource.id == "legacy"
    assert dict(resource.tags) == {"team": "a"}
    assert dict(resource.attributes) == {
        "AutoScalingGroupName": "legacy",
        "AutoScalingGroupARN": raw["AutoScalingGroupARN"],
        "LaunchConfigurationName": "lc-1",
        "MaxInstanceLifetime": 604800,
        "MinSize": 1,
        "MaxSize": 3,
        "DesiredCapacity": 2,
        "CreatedTime": "2026-01-02T03:04:05+00:00",
        "Status": "Delete in progress",
        "Instances": [
            {
                "HealthStatus": "Healthy",
                "InstanceId": "i-1",
                "LaunchConfigurationName": "lc-1",
                "LifecycleState": "InService",
            }
        ],
    }

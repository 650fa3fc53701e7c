"""The ec2 collector against moto: instances, AMIs, security groups, paging, call counts, gaps."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from auditor.aws import ApiCallCounter
from auditor.collect import ec2_instances
from auditor.collect.base import CollectResult, UnitContext
from auditor.collect.ec2 import collect_ec2
from auditor.model import CollectionGap, Kind, Resource, Service

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _no_default_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's 1,300 public AMIs take seconds to load per test; ours are built in the test."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


def _ec2(ctx: UnitContext) -> Any:
    return ctx.client("ec2")


def _images(ctx: UnitContext, n: int) -> list[str]:
    """`n` fresh AMIs of this account (built from a throw-away instance), sorted."""
    ec2 = _ec2(ctx)
    builder = _run(ctx, "ami-12345678")
    out = [ec2.create_image(InstanceId=builder, Name=f"golden-{i}")["ImageId"] for i in range(n)]
    ec2.terminate_instances(InstanceIds=[builder])
    return sorted(out)


def _run(ctx: UnitContext, image_id: str, **kwargs: Any) -> str:
    inst = _ec2(ctx).run_instances(ImageId=image_id, MinCount=1, MaxCount=1, **kwargs)
    return str(inst["Instances"][0]["InstanceId"])


def _of(result: CollectResult, kind: Kind) -> dict[str, Resource]:
    return {r.id: r for r in result.resources if r.kind is kind}


def _deny(ctx: UnitContext, service: str, operation: str) -> None:
    """Make every `operation` call of this context's client fail as IAM would."""

    def refuse(model: Any, **_: Any) -> None:
        if model.name == operation:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "UnauthorizedOperation", "Message": "not authorized"}}, operation
            )

    # last, so that the ApiCallCounter still counts the refused call, as AWS would
    ctx.client(service).meta.events.register_last("before-call", refuse)


def _delta(counter: ApiCallCounter, before: dict[str, int]) -> dict[str, int]:
    after = counter.calls
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def test_instance_attributes_follow_the_contract(make_ctx: Callable[..., UnitContext]) -> None:
    """An instance carries exactly the documented attributes, with tag-derived ones."""
    ctx = make_ctx()
    ec2 = _ec2(ctx)
    image = _images(ctx, 1)[0]
    ec2.create_key_pair(KeyName="ops")
    sg = ec2.create_security_group(GroupName="web", Description="web")["GroupId"]
    tags = {
        "Name": "web-1",
        "aws:autoscaling:groupName": "web-asg",
        "eks:nodegroup-name": "ng-1",
        "eks:cluster-name": "prod",
    }
    instance_id = _run(
        ctx,
        image,
        KeyName="ops",
        SecurityGroupIds=[sg],
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
    )

    result = collect_ec2(ctx)

    inst = _of(result, Kind.EC2_INSTANCE)[instance_id]
    assert f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}" == inst.arn
    assert tags == dict(inst.tags)
    expected_keys = {
        "InstanceId", "InstanceType", "ImageId", "KeyName", "LaunchTime", "State",
        "StateTransitionReason", "MetadataOptions", "SecurityGroups", "SourceDestCheck",
        "SubnetId", "VpcId", "PrivateIpAddress", "PublicIpAddress", "BlockDeviceMappings",
        "UserData", "AutoScalingGroupName", "EksNodegroupName", "EksClusterName",
    }  # fmt: skip
    assert expected_keys == set(inst.attributes)
    attrs = inst.attributes
    assert attrs["KeyName"] == "ops"
    assert attrs["State"] == {"Name": "running"}
    assert attrs["AutoScalingGroupName"] == "web-asg"
    assert attrs["EksNodegroupName"] == "ng-1"
    assert attrs["EksClusterName"] == "prod"
    assert {"HttpTokens", "HttpEndpoint", "HttpPutResponseHopLimit"} == set(
        attrs["MetadataOptions"]
    )
    assert attrs["MetadataOptions"]["HttpTokens"] == "required"
    assert [{"GroupId": sg, "GroupName": "web"}] == attrs["SecurityGroups"]
    [bdm] = attrs["BlockDeviceMappings"]
    assert {"DeviceName", "Ebs"} == set(bdm)
    assert {"VolumeId", "AttachTime"} == set(bdm["Ebs"])
    assert str(attrs["LaunchTime"]).endswith("+00:00")
    assert attrs["UserData"] == {"present": False, "sha256": None, "size": 0, "secrets": []}
    assert inst.unavailable == ()
    json.dumps(dict(attrs))  # JSON-compatible all the way down


def test_terminated_instances_are_skipped(make_ctx: Callable[..., UnitContext]) -> None:
    """A terminated instance is gone: it is not collected, a stopped one is."""
    ctx = make_ctx()
    image = _images(ctx, 1)[0]
    gone, stopped = _run(ctx, image), _run(ctx, image)
    _ec2(ctx).terminate_instances(InstanceIds=[gone])
    _ec2(ctx).stop_instances(InstanceIds=[stopped])

    instances = _of(collect_ec2(ctx), Kind.EC2_INSTANCE)

    assert [stopped] == list(instances)
    assert instances[stopped].attributes["State"] == {"Name": "stopped"}


def test_images_and_security_groups_in_use_in_one_call_each(
    make_ctx: Callable[..., UnitContext], counter: ApiCallCounter
) -> None:
    """AMIs and groups of all instances come from one DescribeImages and one
    DescribeSecurityGroups, with the documented attributes and AttachedTo."""
    ctx = make_ctx()
    ec2 = _ec2(ctx)
    first, second, unused = _images(ctx, 3)
    sg = ec2.create_security_group(GroupName="ssh", Description="ssh")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    a = _run(ctx, first, SecurityGroupIds=[sg])
    b = _run(ctx, second, SecurityGroupIds=[sg])
    _run(ctx, second)
    before = dict(counter.calls)

    result = collect_ec2(ctx)

    calls = _delta(counter, before)
    assert calls["ec2:DescribeImages"] == 1
    assert calls["ec2:DescribeSecurityGroups"] == 1
    assert calls["ec2:DescribeInstances"] == 1
    assert calls["ec2:DescribeInstanceAttribute"] == 3
    images = _of(result, Kind.EC2_IMAGE)
    assert {first, second} == set(images)
    assert unused not in images
    image = images[first]
    assert f"arn:aws:ec2:{REGION}:{ACCOUNT}:image/{first}" == image.arn
    assert {"ImageId", "Name", "CreationDate", "OwnerId", "State", "Public"} <= set(
        image.attributes
    )
    assert set(image.attributes) <= {
        "ImageId", "Name", "CreationDate", "DeprecationTime", "OwnerId", "State", "Public",
    }  # fmt: skip
    assert str(image.attributes["CreationDate"]).endswith("+00:00")
    groups = _of(result, Kind.EC2_SECURITY_GROUP)
    arns = sorted(f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{i}" for i in (a, b))
    assert arns == groups[sg].attributes["AttachedTo"]
    assert {"GroupId", "GroupName", "VpcId", "IpPermissions", "AttachedTo"} == set(
        groups[sg].attributes
    )
    [perm] = groups[sg].attributes["IpPermissions"]
    assert {k: perm[k] for k in ("IpProtocol", "FromPort", "ToPort")} == {
        "IpProtocol": "tcp",
        "FromPort": 22,
        "ToPort": 22,
    }
    assert perm["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert result.gaps == ()


def test_deregistered_ami_is_absent_while_others_are_returned(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """An instance whose AMI was deregistered does not hide the AMIs of the others."""
    ctx = make_ctx()
    ec2 = _ec2(ctx)
    base, own = _images(ctx, 2)
    _run(ctx, base)
    orphan = _run(ctx, own)
    ec2.deregister_image(ImageId=own)

    result = collect_ec2(ctx)

    assert orphan in _of(result, Kind.EC2_INSTANCE)
    assert [base] == list(_of(result, Kind.EC2_IMAGE))
    assert result.gaps == ()


def test_ami_not_found_error_retries_without_the_missing_id(
    make_ctx: Callable[..., UnitContext], counter: ApiCallCounter
) -> None:
    """Real EC2 fails the whole DescribeImages with InvalidAMIID.NotFound naming the id: the
    collector retries once without it, and the other AMIs are still collected."""
    ctx = make_ctx()
    ec2 = _ec2(ctx)
    keep, gone = _images(ctx, 2)
    _run(ctx, keep)
    _run(ctx, gone)

    def like_aws(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "DescribeImages" and gone in params["body"].values():
            raise botocore.exceptions.ClientError(
                {
                    "Error": {
                        "Code": "InvalidAMIID.NotFound",
                        "Message": f"The image id '[{gone}]' does not exist",
                    }
                },
                "DescribeImages",
            )

    ec2.meta.events.register_last("before-call", like_aws)
    before = dict(counter.calls)

    result = collect_ec2(ctx)

    assert [keep] == list(_of(result, Kind.EC2_IMAGE))
    assert result.gaps == ()
    assert _delta(counter, before)["ec2:DescribeImages"] == 2


def test_instances_are_paged(
    make_ctx: Callable[..., UnitContext],
    counter: ApiCallCounter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every page of DescribeInstances is read (page size lowered to 5 to keep it fast)."""
    monkeypatch.setattr(ec2_instances, "INSTANCE_PAGE_SIZE", 5)
    ctx = make_ctx()
    image = _images(ctx, 1)[0]
    ids = {_run(ctx, image) for _ in range(12)}
    before = dict(counter.calls)

    result = collect_ec2(ctx)

    assert ids == set(_of(result, Kind.EC2_INSTANCE))
    assert _delta(counter, before)["ec2:DescribeInstances"] == 3


def test_denied_security_groups_become_a_gap_and_the_rest_is_collected(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """AccessDenied on DescribeSecurityGroups is a gap for ec2.security_group only."""
    ctx = make_ctx()
    image = _images(ctx, 1)[0]
    sg = _ec2(ctx).create_security_group(GroupName="web", Description="web")["GroupId"]
    instance_id = _run(ctx, image, SecurityGroupIds=[sg])
    _deny(ctx, "ec2", "DescribeSecurityGroups")

    result = collect_ec2(ctx)

    expected = CollectionGap(
        account=ACCOUNT,
        region=REGION,
        service=Service.EC2,
        kinds=(Kind.EC2_SECURITY_GROUP,),
        operation="ec2:DescribeSecurityGroups",
        error_code="UnauthorizedOperation",
        message="not authorized",
    )
    assert (expected,) == result.gaps
    assert [instance_id] == list(_of(result, Kind.EC2_INSTANCE))
    assert [image] == list(_of(result, Kind.EC2_IMAGE))
    assert _of(result, Kind.EC2_SECURITY_GROUP) == {}


def test_denied_instances_fail_closed_for_what_instances_reveal(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """Without DescribeInstances, the AMIs, groups and templates in use are unknown too:
    the gap covers them, while Auto Scaling groups are still collected."""
    ctx = make_ctx()
    ctx.client("autoscaling").create_launch_configuration(
        LaunchConfigurationName="lc", ImageId=_images(ctx, 1)[0], InstanceType="t3.micro"
    )
    ctx.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName="legacy",
        LaunchConfigurationName="lc",
        MinSize=0,
        MaxSize=1,
        AvailabilityZones=[f"{REGION}a"],
    )
    _deny(ctx, "ec2", "DescribeInstances")

    result = collect_ec2(ctx)

    [failed] = result.gaps
    assert failed.operation == "ec2:DescribeInstances"
    for kind in (
        Kind.EC2_INSTANCE,
        Kind.EC2_IMAGE,
        Kind.EC2_SECURITY_GROUP,
        Kind.EC2_LAUNCH_TEMPLATE,
    ):
        assert failed.covers(kind, ACCOUNT, REGION)
    assert list(_of(result, Kind.ASG)) == ["legacy"]


def test_api_errors_never_raise(make_ctx: Callable[..., UnitContext]) -> None:
    """With every EC2 and Auto Scaling call denied, the collector returns gaps, not errors."""
    ctx = make_ctx()
    for op in ("DescribeInstances", "DescribeImages", "DescribeSecurityGroups"):
        _deny(ctx, "ec2", op)
    _deny(ctx, "autoscaling", "DescribeAutoScalingGroups")

    result = collect_ec2(ctx)

    assert result.resources == ()
    assert sorted(g.operation for g in result.gaps) == [
        "autoscaling:DescribeAutoScalingGroups",
        "ec2:DescribeInstances",
    ]

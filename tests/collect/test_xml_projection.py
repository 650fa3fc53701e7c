"""DescribeInstances parsed for the kept members only: the same values botocore gives them.

Every test compares the projected parse with botocore's full parse of the same response
(cut down to the kept members): the projection changes what a warm cycle costs, never what
it sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from datetime import datetime
from typing import Any

import boto3
import botocore.exceptions
import botocore.session
import botocore.utils
import pytest
from botocore.parsers import EC2QueryParser, QueryParser
from hypothesis import given
from hypothesis import strategies as st

from auditor.aws import parse_timestamp
from auditor.collect import xml_projection
from auditor.collect.autoscaling import DESCRIBE_GROUPS_KEPT
from auditor.collect.base import UnitContext
from auditor.collect.ec2 import collect_ec2
from auditor.collect.ec2_instances import DESCRIBE_INSTANCES_KEPT, list_instances
from auditor.collect.xml_projection import Members, projected
from auditor.model import Kind

OPERATION = (
    botocore.session.get_session().get_service_model("ec2").operation_model("DescribeInstances")
)


@pytest.fixture(autouse=True)
def _no_default_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


def _kept(value: Any, members: Members | None) -> Any:
    """A full botocore parse cut down to `members`: what the projection must return."""
    if members is None:
        return value
    if isinstance(value, list):
        return [_kept(v, members) for v in value]
    return {k: _kept(value[k], sub) for k, sub in members.items() if k in value}


@pytest.fixture
def bodies(make_ctx: Callable[..., UnitContext]) -> Iterator[tuple[Any, list[bytes]]]:
    """An ec2 client and the raw DescribeInstances bodies it receives."""
    ec2 = make_ctx().client("ec2")
    seen: list[bytes] = []

    def keep(response_dict: dict[str, Any], **_: Any) -> None:
        seen.append(response_dict["body"])

    ec2.meta.events.register_first("before-parse.ec2.DescribeInstances", keep)
    yield ec2, seen
    ec2.meta.events.unregister("before-parse.ec2.DescribeInstances", keep)


def _fleet(ec2: Any) -> list[str]:
    """Instances that exercise every kept member: tags with markup characters, an empty
    tag value and non-ASCII text, a key pair, a profile, hop limit, a stopped instance,
    several reservations (one of three instances)."""
    iam = boto3.client("iam", region_name="us-east-1")
    profile = iam.create_instance_profile(InstanceProfileName="web")["InstanceProfile"]["Arn"]
    ec2.create_key_pair(KeyName="ops")
    sg = ec2.create_security_group(GroupName="web & <api>", Description="d")["GroupId"]
    ids = []
    first = ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=3,
        MaxCount=3,
        KeyName="ops",
        SecurityGroupIds=[sg],
        IamInstanceProfile={"Arn": profile},
        MetadataOptions={"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "Name", "Value": "a & b <c> \"d\" 'e'"},
                    {"Key": "empty", "Value": ""},
                    {"Key": "team", "Value": "équipe 東京"},
                ],
            }
        ],
    )
    ids += [i["InstanceId"] for i in first["Instances"]]
    second = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)
    ids += [i["InstanceId"] for i in second["Instances"]]
    ec2.stop_instances(InstanceIds=[ids[1]])
    return ids


def test_projection_equals_botocore_on_the_kept_members(
    bodies: tuple[Any, list[bytes]],
) -> None:
    """Page by page, the projected result is botocore's full parse cut to the kept members,
    and the instances it lists are the ones botocore lists."""
    ec2, seen = bodies
    ids = _fleet(ec2)
    pages = []
    with projected(ec2, "DescribeInstances", DESCRIBE_INSTANCES_KEPT):
        for page in ec2.get_paginator("describe_instances").paginate(
            PaginationConfig={"PageSize": 1}  # moto pages by reservation
        ):
            pages.append(page)
    assert len(seen) == len(pages) >= 2  # paged, NextToken carried through
    for body, page in zip(seen, pages, strict=True):
        full = EC2QueryParser().parse(
            {"body": body, "headers": {}, "status_code": 200}, OPERATION.output_shape
        )
        assert {k: v for k, v in page.items() if k != "ResponseMetadata"} == _kept(
            full, DESCRIBE_INSTANCES_KEPT
        )
        assert page["ResponseMetadata"]["RequestId"] == full["ResponseMetadata"]["RequestId"]
    listed = [i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"]]
    assert sorted(listed) == sorted(ids)
    tags = {t["Key"]: t["Value"] for t in pages[0]["Reservations"][0]["Instances"][0]["Tags"]}
    assert tags == {"Name": "a & b <c> \"d\" 'e'", "empty": "", "team": "équipe 東京"}


def test_calls_outside_the_block_are_parsed_in_full(bodies: tuple[Any, list[bytes]]) -> None:
    """The projection applies to calls made inside the block only."""
    ec2, _ = bodies
    _fleet(ec2)
    with projected(ec2, "DescribeInstances", DESCRIBE_INSTANCES_KEPT):
        pass
    instance = ec2.describe_instances()["Reservations"][0]["Instances"][0]
    assert "Placement" in instance
    assert "NetworkInterfaces" in instance


def test_a_shape_the_walk_cannot_convert_falls_back_to_botocore(
    bodies: tuple[Any, list[bytes]],
) -> None:
    """A members list naming a structure as if it were a value (the walk refuses it): the
    response is parsed by botocore in full, not half-parsed."""
    ec2, _ = bodies
    _fleet(ec2)
    wrong: Members = {"Reservations": {"Instances": {"Placement": None}}}
    with projected(ec2, "DescribeInstances", wrong):
        instance = ec2.describe_instances()["Reservations"][0]["Instances"][0]
    assert "NetworkInterfaces" in instance


def test_an_error_response_is_botocores(bodies: tuple[Any, list[bytes]]) -> None:
    """Error responses are not projected: the ClientError is the one botocore raises."""
    ec2, _ = bodies
    with (
        projected(ec2, "DescribeInstances", DESCRIBE_INSTANCES_KEPT),
        pytest.raises(botocore.exceptions.ClientError) as raised,
    ):
        ec2.describe_instances(InstanceIds=["i-00000000000000000"])
    assert raised.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"


def test_list_instances_is_unchanged_by_the_projection(
    make_ctx: Callable[..., UnitContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collector's listing with the projection equals its listing with botocore's full
    parse, on the kept members (what instance_attributes reads)."""
    ctx = make_ctx()
    _fleet(ctx.client("ec2"))
    together: dict[str, str] = {}
    fast, gaps = list_instances(ctx, ctx.client("ec2"), together)

    def unchanged(client: Any, operation: str, members: Members) -> Any:
        return nullcontext()

    monkeypatch.setattr("auditor.collect.ec2_instances.projected", unchanged)
    together_full: dict[str, str] = {}
    full, _ = list_instances(ctx, ctx.client("ec2"), together_full)
    instance_members = DESCRIBE_INSTANCES_KEPT["Reservations"]["Instances"]  # type: ignore[index]
    assert gaps == []
    assert fast == [_kept(i, instance_members) for i in full]
    assert together == together_full
    assert len(together) == 4


def test_the_parser_refuses_entities() -> None:
    """An entity in a response is not expanded (no file or network read through XML)."""
    body = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<DescribeInstancesResponse><requestId>r1</requestId><reservationSet><item>"
        b"<reservationId>&x;</reservationId></item></reservationSet></DescribeInstancesResponse>"
    )
    parsed, request_id = xml_projection.parse(body, OPERATION.output_shape, DESCRIBE_INSTANCES_KEPT)
    assert request_id == "r1"
    assert "root:" not in str(parsed)


@given(
    st.datetimes(  # hypothesis takes naive bounds; the zone is added to the text
        min_value=datetime(1971, 1, 1),  # noqa: DTZ001
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    ),
    st.sampled_from(["Z", "+00:00", "+05:30", "-08:00"]),
    st.sampled_from(["seconds", "milliseconds", "microseconds"]),
)
def test_fast_timestamps_equal_botocores(moment: datetime, zone: str, precision: str) -> None:
    """The ISO fast path gives the instant and offset botocore's parser gives."""
    text = moment.isoformat(timespec=precision) + zone
    ours, theirs = parse_timestamp(text), botocore.utils.parse_timestamp(text)
    assert ours == theirs
    assert ours.utcoffset() == theirs.utcoffset()


def test_other_timestamp_forms_go_to_botocore() -> None:
    """Epoch numbers and RFC 822 dates are botocore's, unchanged."""
    for value in (1_700_000_000, "1700000000.5", "Tue, 14 Nov 2023 22:13:20 GMT"):
        assert parse_timestamp(value) == botocore.utils.parse_timestamp(value)


def test_the_ec2_unit_collects_the_same_resources_either_way(
    make_ctx: Callable[..., UnitContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    """collect_ec2 with the projection and with botocore's full parse: the same resources,
    attribute for attribute (the projection changes cost, never what is seen)."""
    ctx = make_ctx()
    _fleet(ctx.client("ec2"))
    fast = collect_ec2(ctx)
    monkeypatch.setattr("auditor.collect.ec2_instances.projected", lambda *_: nullcontext())
    full = collect_ec2(ctx)

    def shown(result: Any) -> list[tuple[str, Any, Any, Any]]:
        return sorted((r.arn, r.attributes, r.tags, r.unavailable) for r in result.resources)

    assert fast.gaps == full.gaps == ()
    assert shown(fast) == shown(full)
    assert sum(r.kind is Kind.EC2_INSTANCE for r in fast.resources) == 4


def _groups(ctx: UnitContext) -> None:
    """Auto Scaling groups on a template (with members), on a mixed instances policy with an
    override, and on a launch configuration: every kept member of a group."""
    ec2, autoscaling = ctx.client("ec2"), ctx.client("autoscaling")
    template = ec2.create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"ImageId": "ami-12345678"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_launch_template_version(
        LaunchTemplateId=template, LaunchTemplateData={"ImageId": "ami-12345678"}
    )
    zone = {"AvailabilityZones": ["us-east-1a"]}
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web & <api>",
        MinSize=2,
        MaxSize=3,
        MaxInstanceLifetime=86400,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        Tags=[{"Key": "team", "Value": "équipe", "PropagateAtLaunch": True}],
        **zone,
    )
    spec = {"LaunchTemplateId": template, "Version": "1"}
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="mixed",
        MinSize=0,
        MaxSize=2,
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": spec,
                "Overrides": [{"InstanceType": "m5.large", "LaunchTemplateSpecification": spec}],
            }
        },
        **zone,
    )
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="old", ImageId="ami-12345678", InstanceType="t3.micro"
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="legacy", MinSize=1, MaxSize=1, LaunchConfigurationName="old", **zone
    )


def test_groups_projection_equals_botocore(make_ctx: Callable[..., UnitContext]) -> None:
    """DescribeAutoScalingGroups (AWS Query, a result wrapper): the projected page is
    botocore's full parse cut to the kept members, request id included."""
    ctx = make_ctx()
    _groups(ctx)
    autoscaling = ctx.client("autoscaling")
    seen: list[bytes] = []

    def keep(response_dict: dict[str, Any], **_: Any) -> None:
        seen.append(response_dict["body"])

    event = "before-parse.auto-scaling.DescribeAutoScalingGroups"
    autoscaling.meta.events.register_first(event, keep)
    with projected(autoscaling, "DescribeAutoScalingGroups", DESCRIBE_GROUPS_KEPT):
        page = autoscaling.describe_auto_scaling_groups()
    autoscaling.meta.events.unregister(event, keep)
    shape = autoscaling.meta.service_model.operation_model("DescribeAutoScalingGroups")
    full = QueryParser().parse(
        {"body": seen[0], "headers": {}, "status_code": 200}, shape.output_shape
    )
    assert {k: v for k, v in page.items() if k != "ResponseMetadata"} == _kept(
        full, DESCRIBE_GROUPS_KEPT
    )
    assert page["ResponseMetadata"]["RequestId"] == full["ResponseMetadata"]["RequestId"]
    assert len(page["AutoScalingGroups"]) == 3
    assert len(page["AutoScalingGroups"][0]["Instances"]) == 2
    assert "AvailabilityZones" not in page["AutoScalingGroups"][0]


def test_groups_and_templates_are_collected_the_same_either_way(
    make_ctx: Callable[..., UnitContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    """collect_ec2 over groups, their members and templates: the same resources with and
    without the projections."""
    ctx = make_ctx()
    _groups(ctx)
    fast = collect_ec2(ctx)
    off = lambda *_: nullcontext()  # noqa: E731
    monkeypatch.setattr("auditor.collect.ec2_instances.projected", off)
    monkeypatch.setattr("auditor.collect.autoscaling.projected", off)
    full = collect_ec2(ctx)

    def shown(result: Any) -> list[tuple[str, Any, Any, Any]]:
        return sorted((r.arn, r.attributes, r.tags, r.unavailable) for r in result.resources)

    assert fast.gaps == full.gaps
    assert shown(fast) == shown(full)
    assert sum(r.kind is Kind.ASG for r in fast.resources) == 3

"""EC2 instances (ec2.instance): DescribeInstances pages plus each instance's user data.

User data is read with one DescribeInstanceAttribute per instance, and only when it could
have changed: it is immutable while the instance runs (it can only be modified while
stopped, and starting moves LaunchTime), so a value read in an earlier cycle for the same
(InstanceId, LaunchTime) is reused unless the instance is stopped or stopping now.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from auditor.collect.base import (
    AWS_ERRORS,
    CollectResult,
    UnitContext,
    gap,
    jsonable,
    pick,
    tag_map,
)
from auditor.model import JSON, CollectionGap, Kind, Resource, Service
from auditor.secrets import redacted_text

INSTANCE_PAGE_SIZE = 1000  # the DescribeInstances maximum; tests lower it to prove paging
USER_DATA_WORKERS = 8
# Terminated instances are gone for good; filtering server-side also saves pages.
LIVE_STATES = ("pending", "running", "shutting-down", "stopping", "stopped")
# States in which user data may have been changed since it was last read.
_MUTABLE_STATES = frozenset({"stopped", "stopping"})

TAG_ASG = "aws:autoscaling:groupName"
TAG_LT_ID = "aws:ec2launchtemplate:id"
TAG_LT_VERSION = "aws:ec2launchtemplate:version"
TAG_EKS_NODEGROUP = "eks:nodegroup-name"
TAG_EKS_CLUSTER = "eks:cluster-name"

# Kinds whose listing depends on knowing every instance: the AMIs, security groups and
# launch template versions "in use" are derived from the instances.
LISTING_KINDS = (
    Kind.EC2_INSTANCE,
    Kind.EC2_IMAGE,
    Kind.EC2_SECURITY_GROUP,
    Kind.EC2_LAUNCH_TEMPLATE,
)


def instance_arn(ctx: UnitContext, instance_id: str) -> str:
    return f"arn:aws:ec2:{ctx.region}:{ctx.account}:instance/{instance_id}"


def list_instances(
    ctx: UnitContext, ec2: Any
) -> tuple[list[Mapping[str, Any]], list[CollectionGap]]:
    """Every live instance (raw API shape); what was read before an error is kept."""
    found: list[Mapping[str, Any]] = []
    try:
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": list(LIVE_STATES)}],
            MaxResults=INSTANCE_PAGE_SIZE,
        )
        for page in pages:
            for reservation in page.get("Reservations", []):
                for inst in reservation.get("Instances", []):
                    if inst.get("State", {}).get("Name") != "terminated":
                        found.append(inst)
    except AWS_ERRORS as exc:
        return found, [gap(ctx, Service.EC2, LISTING_KINDS, "ec2:DescribeInstances", exc)]
    return found, []


def _derived(tags: Mapping[str, str]) -> dict[str, JSON]:
    out: dict[str, JSON] = {}
    if TAG_ASG in tags:
        out["AutoScalingGroupName"] = tags[TAG_ASG]
    if TAG_LT_ID in tags:
        template: dict[str, JSON] = {"LaunchTemplateId": tags[TAG_LT_ID]}
        if TAG_LT_VERSION in tags:
            template["Version"] = tags[TAG_LT_VERSION]
        out["LaunchTemplate"] = template
    if TAG_EKS_NODEGROUP in tags:
        out["EksNodegroupName"] = tags[TAG_EKS_NODEGROUP]
    if TAG_EKS_CLUSTER in tags:
        out["EksClusterName"] = tags[TAG_EKS_CLUSTER]
    return out


def instance_attributes(inst: Mapping[str, Any]) -> dict[str, JSON]:
    """The documented ec2.instance attributes, without UserData."""
    attrs = pick(
        inst,
        (
            "InstanceId",
            "InstanceType",
            "ImageId",
            "KeyName",
            "LaunchTime",
            "StateTransitionReason",
            "SourceDestCheck",
            "SubnetId",
            "VpcId",
            "PrivateIpAddress",
            "PublicIpAddress",
        ),
    )
    attrs["State"] = {"Name": inst.get("State", {}).get("Name")}
    attrs["MetadataOptions"] = pick(
        inst.get("MetadataOptions", {}),
        ("HttpTokens", "HttpEndpoint", "HttpPutResponseHopLimit"),
    )
    attrs["SecurityGroups"] = [
        pick(g, ("GroupId", "GroupName")) for g in inst.get("SecurityGroups", [])
    ]
    if inst.get("IamInstanceProfile"):
        attrs["IamInstanceProfile"] = pick(inst["IamInstanceProfile"], ("Arn",))
    attrs["BlockDeviceMappings"] = [
        {
            **pick(m, ("DeviceName",)),
            **({"Ebs": pick(m["Ebs"], ("VolumeId", "AttachTime"))} if "Ebs" in m else {}),
        }
        for m in inst.get("BlockDeviceMappings", [])
    ]
    attrs.update(_derived(tag_map(inst.get("Tags"))))
    return attrs


@dataclass(frozen=True, slots=True)
class _UserData:
    value: JSON | None  # None: could not be read
    gap: CollectionGap | None = None


def _read_user_data(ctx: UnitContext, ec2: Any, instance_id: str) -> _UserData:
    try:
        resp = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    except AWS_ERRORS as exc:
        failed = gap(
            ctx,
            Service.EC2,
            (Kind.EC2_INSTANCE,),
            "ec2:DescribeInstanceAttribute",
            exc,
            resource_arn=instance_arn(ctx, instance_id),
        )
        return _UserData(None, failed)
    return _UserData(redacted_text(resp.get("UserData", {}).get("Value")))


def _cached_user_data(ctx: UnitContext, attrs: Mapping[str, JSON]) -> JSON | None:
    state = attrs["State"]
    if isinstance(state, dict) and state.get("Name") in _MUTABLE_STATES:
        return None
    return ctx.previous.user_data.get((str(attrs["InstanceId"]), str(attrs.get("LaunchTime"))))


def collect_instances(ctx: UnitContext, ec2: Any) -> CollectResult:
    """ec2.instance resources with redacted user data, and the gaps met on the way."""
    raw, gaps = list_instances(ctx, ec2)
    observed = ctx.clock.now()
    prepared = [(inst, instance_attributes(inst)) for inst in raw]
    user_data: dict[str, _UserData] = {}
    to_read: list[str] = []
    for _, attrs in prepared:
        cached = _cached_user_data(ctx, attrs)
        if cached is None:
            to_read.append(str(attrs["InstanceId"]))
        else:
            user_data[str(attrs["InstanceId"])] = _UserData(cached)
    if to_read:
        with ThreadPoolExecutor(max_workers=min(USER_DATA_WORKERS, len(to_read))) as pool:
            # each read runs in a copy of this context: its calls count towards this unit
            futures = [
                pool.submit(contextvars.copy_context().run, _read_user_data, ctx, ec2, i)
                for i in to_read
            ]
            user_data.update(zip(to_read, (f.result() for f in futures), strict=True))
    resources: list[Resource] = []
    for inst, attrs in prepared:
        instance_id = str(attrs["InstanceId"])
        ud = user_data[instance_id]
        unavailable: tuple[str, ...] = ()
        if ud.value is None:
            unavailable = ("UserData",)
        else:
            attrs["UserData"] = ud.value
        if ud.gap is not None:
            gaps.append(ud.gap)
        resources.append(
            Resource(
                kind=Kind.EC2_INSTANCE,
                arn=instance_arn(ctx, instance_id),
                id=instance_id,
                account=ctx.account,
                region=ctx.region,
                tags=tag_map(inst.get("Tags")),
                attributes=jsonable(attrs),
                observed_at=observed,
                unavailable=unavailable,
            )
        )
    return CollectResult(tuple(resources), tuple(gaps))

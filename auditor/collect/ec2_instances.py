"""EC2 instances (ec2.instance): DescribeInstances pages plus each instance's user data.

User data is filled in by ec2_user_data.py, which reads it per instance only where it is
not already known (see docs/resources.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auditor.collect.base import (
    AWS_ERRORS,
    CollectResult,
    UnitContext,
    gap,
    pick,
    tag_map,
)
from auditor.collect.ec2_user_data import TemplateUserData, resolve_user_data
from auditor.collect.xml_projection import Members, projected
from auditor.model import JSON, CollectionGap, Kind, Resource, Service

INSTANCE_PAGE_SIZE = 1000  # the DescribeInstances maximum; tests lower it to prove paging
# Terminated instances are gone for good; filtering server-side also saves pages.
LIVE_STATES = ("pending", "running", "shutting-down", "stopping", "stopped")

TAG_ASG = "aws:autoscaling:groupName"
TAG_LT_ID = "aws:ec2launchtemplate:id"
TAG_LT_VERSION = "aws:ec2launchtemplate:version"
TAG_EKS_NODEGROUP = "eks:nodegroup-name"
TAG_EKS_CLUSTER = "eks:cluster-name"

# What list_instances and instance_attributes read of a DescribeInstances response: only
# these members are parsed (xml_projection.py), the rest of each instance is skipped.
INSTANCE_KEPT: Members = {
    "InstanceId": None,
    "InstanceType": None,
    "ImageId": None,
    "KeyName": None,
    "LaunchTime": None,
    "StateTransitionReason": None,
    "SourceDestCheck": None,
    "SubnetId": None,
    "VpcId": None,
    "PrivateIpAddress": None,
    "PublicIpAddress": None,
    "State": {"Name": None},
    "MetadataOptions": {"HttpTokens": None, "HttpEndpoint": None, "HttpPutResponseHopLimit": None},
    "SecurityGroups": {"GroupId": None, "GroupName": None},
    "IamInstanceProfile": {"Arn": None},
    "BlockDeviceMappings": {"DeviceName": None, "Ebs": {"VolumeId": None, "AttachTime": None}},
    "Tags": {"Key": None, "Value": None},
}
DESCRIBE_INSTANCES_KEPT: Members = {
    "Reservations": {"ReservationId": None, "RequesterId": None, "Instances": INSTANCE_KEPT},
    "NextToken": None,
}

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
    ctx: UnitContext,
    ec2: Any,
    run_together: dict[str, str] | None = None,
    instance_ids: Sequence[str] | None = None,
) -> tuple[list[Mapping[str, Any]], list[CollectionGap]]:
    """Every live instance, or the live ones of `instance_ids` (raw API shape); what was
    read before an error is kept. `run_together` is filled with instance id -> reservation
    id for reservations that a RunInstances call made directly (no RequesterId)."""
    found: list[Mapping[str, Any]] = []
    filters = [{"Name": "instance-state-name", "Values": list(LIVE_STATES)}]
    if instance_ids is not None:
        # a filter, not InstanceIds: an id that no longer exists is simply not returned
        filters.append({"Name": "instance-id", "Values": list(instance_ids)})
    try:
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=filters, MaxResults=INSTANCE_PAGE_SIZE
        )
        with projected(ec2, "DescribeInstances", DESCRIBE_INSTANCES_KEPT):
            for page in pages:
                for reservation in page.get("Reservations", []):
                    direct = "RequesterId" not in reservation and "ReservationId" in reservation
                    for inst in reservation.get("Instances", []):
                        if inst.get("State", {}).get("Name") != "terminated":
                            found.append(inst)
                            if direct and run_together is not None:
                                run_together[str(inst["InstanceId"])] = reservation["ReservationId"]
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
class ListedInstances:
    """DescribeInstances read and shaped; user data still to be filled in."""

    prepared: list[tuple[Mapping[str, Any], dict[str, JSON]]]
    gaps: list[CollectionGap]
    observed: datetime
    # instance id -> reservation id, for reservations one RunInstances call made (no
    # RequesterId): every instance of such a reservation was launched with the same user data
    run_together: Mapping[str, str] = field(default_factory=dict)

    @property
    def attributes(self) -> list[dict[str, JSON]]:
        return [attrs for _, attrs in self.prepared]


def list_instance_attributes(
    ctx: UnitContext, ec2: Any, instance_ids: Sequence[str] | None = None
) -> ListedInstances:
    run_together: dict[str, str] = {}
    raw, gaps = list_instances(ctx, ec2, run_together, instance_ids)
    observed = ctx.clock.now()
    prepared = [(inst, instance_attributes(inst)) for inst in raw]
    return ListedInstances(prepared, gaps, observed, run_together)


def collect_instances(
    ctx: UnitContext,
    ec2: Any,
    listed: ListedInstances | None = None,
    template_user_data: TemplateUserData | None = None,
    *,
    instance_ids: Sequence[str] | None = None,
) -> CollectResult:
    """ec2.instance resources with redacted user data, and the gaps met on the way (only
    the live ones of `instance_ids` when given: a micro-cycle)."""
    listed = listed or list_instance_attributes(ctx, ec2, instance_ids)
    prepared, gaps, observed = listed.prepared, list(listed.gaps), listed.observed
    user_data = resolve_user_data(
        ctx, ec2, listed.attributes, listed.run_together, template_user_data
    )
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
                attributes=attrs,  # JSON already: instance_attributes normalizes
                observed_at=observed,
                unavailable=unavailable,
            )
        )
    return CollectResult(tuple(resources), tuple(gaps))

"""Security groups attached to collected compute (ec2.security_group), in batched calls."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from auditor.collect.base import (
    AWS_ERRORS,
    CollectResult,
    UnitContext,
    chunks,
    gap,
    jsonable,
    pick,
    tag_map,
)
from auditor.collect.ec2_batch import describe_ids
from auditor.model import JSON, CollectionGap, Kind, Resource, Service

GROUP_BATCH = 1000  # ids per DescribeSecurityGroups call


def security_group_arn(ctx: UnitContext, group_id: str) -> str:
    return f"arn:aws:ec2:{ctx.region}:{ctx.account}:security-group/{group_id}"


def _permission(perm: Mapping[str, Any]) -> dict[str, JSON]:
    out = pick(perm, ("IpProtocol", "FromPort", "ToPort"))
    out["IpRanges"] = [pick(r, ("CidrIp",)) for r in perm.get("IpRanges", [])]
    out["Ipv6Ranges"] = [pick(r, ("CidrIpv6",)) for r in perm.get("Ipv6Ranges", [])]
    out["UserIdGroupPairs"] = jsonable(perm.get("UserIdGroupPairs", []))
    return out


def group_attributes(group: Mapping[str, Any], attached_to: Collection[str]) -> dict[str, JSON]:
    attrs = pick(group, ("GroupId", "GroupName", "VpcId"))
    attrs["IpPermissions"] = [_permission(p) for p in group.get("IpPermissions", [])]
    attrs["AttachedTo"] = sorted(attached_to)
    return attrs


def collect_security_groups(
    ctx: UnitContext, ec2: Any, attachments: Mapping[str, Collection[str]]
) -> CollectResult:
    """The groups in `attachments` (group id -> ARNs of compute using it) that still exist."""
    if not attachments:
        return CollectResult()

    def describe(batch: list[str]) -> list[Any]:
        return list(ec2.describe_security_groups(GroupIds=batch)["SecurityGroups"])

    found: list[Mapping[str, Any]] = []
    gaps: list[CollectionGap] = []
    for batch in chunks(sorted(attachments), GROUP_BATCH):
        try:
            found.extend(describe_ids(describe, batch))
        except AWS_ERRORS as exc:
            op = "ec2:DescribeSecurityGroups"
            gaps.append(gap(ctx, Service.EC2, (Kind.EC2_SECURITY_GROUP,), op, exc))
    observed = ctx.clock.now()
    resources = tuple(
        Resource(
            kind=Kind.EC2_SECURITY_GROUP,
            arn=security_group_arn(ctx, str(group["GroupId"])),
            id=str(group["GroupId"]),
            account=ctx.account,
            region=ctx.region,
            tags=tag_map(group.get("Tags")),
            attributes=group_attributes(group, attachments.get(group["GroupId"], ())),
            observed_at=observed,
        )
        for group in found
    )
    return CollectResult(resources, tuple(gaps))

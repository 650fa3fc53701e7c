"""Auto Scaling groups (autoscaling.group), part of the ec2 service unit.

The launch template a group uses is normalized into one `LaunchTemplate` attribute
whether it is set directly or through a MixedInstancesPolicy, with the version string as
configured (`$Latest`, `$Default`, `3`); the number it resolves to now is added once the
launch templates have been read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
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
from auditor.collect.ec2_launch_templates import LaunchTemplateIndex
from auditor.collect.xml_projection import Members, projected
from auditor.model import JSON, CollectionGap, Kind, Resource, Service

GROUP_PAGE_SIZE = 100  # the DescribeAutoScalingGroups maximum
DEFAULT_VERSION = "$Default"  # what Auto Scaling uses when a group names no version

_TEMPLATE_SPEC: Members = {"LaunchTemplateId": None, "LaunchTemplateName": None, "Version": None}
# What this module reads of a DescribeAutoScalingGroups response: only these members are
# parsed (xml_projection.py); a group's other settings are skipped.
GROUP_KEPT: Members = {
    "AutoScalingGroupName": None,
    "AutoScalingGroupARN": None,
    "LaunchConfigurationName": None,
    "MaxInstanceLifetime": None,
    "MinSize": None,
    "MaxSize": None,
    "DesiredCapacity": None,
    "CreatedTime": None,
    "Status": None,
    "LaunchTemplate": _TEMPLATE_SPEC,
    "MixedInstancesPolicy": {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": _TEMPLATE_SPEC,
            "Overrides": {"LaunchTemplateSpecification": _TEMPLATE_SPEC},
        }
    },
    "Instances": {
        "InstanceId": None,
        "LaunchConfigurationName": None,
        "LifecycleState": None,
        "HealthStatus": None,
        "LaunchTemplate": _TEMPLATE_SPEC,
    },
    "Tags": {"Key": None, "Value": None},
}
DESCRIBE_GROUPS_KEPT: Members = {"AutoScalingGroups": GROUP_KEPT, "NextToken": None}

# Kinds whose listing depends on knowing every group: launch template versions in use,
# and the AMIs and security groups those versions reference.
LISTING_KINDS = (
    Kind.ASG,
    Kind.EC2_LAUNCH_TEMPLATE,
    Kind.EC2_IMAGE,
    Kind.EC2_SECURITY_GROUP,
)


def list_groups(
    ctx: UnitContext, client: Any
) -> tuple[list[Mapping[str, Any]], list[CollectionGap]]:
    """Every group (raw API shape); what was read before an error is kept."""
    found: list[Mapping[str, Any]] = []
    try:
        pages = client.get_paginator("describe_auto_scaling_groups").paginate(
            MaxRecords=GROUP_PAGE_SIZE
        )
        with projected(client, "DescribeAutoScalingGroups", DESCRIBE_GROUPS_KEPT):
            for page in pages:
                found.extend(page.get("AutoScalingGroups", []))
    except AWS_ERRORS as exc:
        failed = gap(ctx, Service.EC2, LISTING_KINDS, "autoscaling:DescribeAutoScalingGroups", exc)
        return found, [failed]
    return found, []


def configured_template(group: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The group's launch template specification, direct or from a MixedInstancesPolicy."""
    spec: Mapping[str, Any] | None = group.get("LaunchTemplate")
    if not spec:
        mixed = group.get("MixedInstancesPolicy") or {}
        spec = (mixed.get("LaunchTemplate") or {}).get("LaunchTemplateSpecification")
    return spec or None


def template_refs(group: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(launch template id, version string) pairs the group and its instances use."""
    spec = configured_template(group)
    if spec and spec.get("LaunchTemplateId"):
        yield spec["LaunchTemplateId"], str(spec.get("Version") or DEFAULT_VERSION)
    mixed = group.get("MixedInstancesPolicy") or {}
    for override in (mixed.get("LaunchTemplate") or {}).get("Overrides") or []:
        sub = override.get("LaunchTemplateSpecification") or {}
        if sub.get("LaunchTemplateId"):
            yield sub["LaunchTemplateId"], str(sub.get("Version") or DEFAULT_VERSION)
    for inst in group.get("Instances", []):
        lt = inst.get("LaunchTemplate") or {}
        if lt.get("LaunchTemplateId"):
            yield lt["LaunchTemplateId"], str(lt.get("Version") or DEFAULT_VERSION)


def _instance(inst: Mapping[str, Any]) -> dict[str, JSON]:
    out = pick(inst, ("InstanceId", "LaunchConfigurationName", "LifecycleState", "HealthStatus"))
    if inst.get("LaunchTemplate"):
        out["LaunchTemplate"] = pick(inst["LaunchTemplate"], ("LaunchTemplateId", "Version"))
    return dict(sorted(out.items()))


def group_resource(
    ctx: UnitContext, group: Mapping[str, Any], templates: LaunchTemplateIndex
) -> tuple[Resource, CollectionGap | None]:
    """One group as a Resource; a gap when its launch template version could not be resolved."""
    attrs = pick(
        group,
        (
            "AutoScalingGroupName",
            "AutoScalingGroupARN",
            "LaunchConfigurationName",
            "MaxInstanceLifetime",
            "MinSize",
            "MaxSize",
            "DesiredCapacity",
            "CreatedTime",
            "Status",
        ),
    )
    attrs["Instances"] = [_instance(i) for i in group.get("Instances", [])]
    unavailable: tuple[str, ...] = ()
    failed: CollectionGap | None = None
    arn = str(group["AutoScalingGroupARN"])
    spec = configured_template(group)
    if spec is not None:
        attrs["LaunchTemplate"] = pick(spec, ("LaunchTemplateId", "LaunchTemplateName", "Version"))
        template_id = str(spec.get("LaunchTemplateId") or "")
        version = str(spec.get("Version") or DEFAULT_VERSION)
        resolved = templates.resolve(template_id, version) if template_id else None
        if resolved is not None:
            attrs["ResolvedLaunchTemplateVersion"] = resolved
        elif template_id in templates.failures:
            why = templates.failures[template_id]
            unavailable = ("ResolvedLaunchTemplateVersion",)
            failed = replace(why, kinds=(Kind.ASG,), resource_arn=arn)
    resource = Resource(
        kind=Kind.ASG,
        arn=arn,
        id=str(group["AutoScalingGroupName"]),
        account=ctx.account,
        region=ctx.region,
        tags=tag_map(group.get("Tags")),
        attributes=jsonable(attrs),
        observed_at=ctx.clock.now(),
        unavailable=unavailable,
    )
    return resource, failed


def group_resources(
    ctx: UnitContext, groups: list[Mapping[str, Any]], templates: LaunchTemplateIndex
) -> CollectResult:
    resources: list[Resource] = []
    gaps: list[CollectionGap] = []
    for group in groups:
        resource, failed = group_resource(ctx, group, templates)
        resources.append(resource)
        if failed is not None:
            gaps.append(failed)
    return CollectResult(tuple(resources), tuple(gaps))

"""The ec2 service unit: instances, Auto Scaling groups, launch templates in use, and the
AMIs and security groups that compute uses, for one (account, region).

Order matters because each step feeds the next with ids to batch: instances and groups
name the launch template versions in use; instances and those versions name the AMIs and
security groups. A failed step is a CollectionGap and the other steps still run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from auditor.collect.autoscaling import group_resources, list_groups, template_refs
from auditor.collect.base import CollectorSpec, CollectResult, UnitContext
from auditor.collect.completeness import completeness_gaps
from auditor.collect.ec2_images import collect_images
from auditor.collect.ec2_instances import collect_instances, list_instance_attributes
from auditor.collect.ec2_launch_templates import collect_launch_templates
from auditor.collect.ec2_security_groups import collect_security_groups
from auditor.collect.ec2_user_data import TemplateUserData
from auditor.model import JSON, Kind, Resource, Service


def _instance_template_refs(
    instances: Iterable[Mapping[str, JSON]],
) -> Iterable[tuple[str, str]]:
    for attrs in instances:
        template = attrs.get("LaunchTemplate")
        if isinstance(template, dict) and "Version" in template:
            yield str(template["LaunchTemplateId"]), str(template["Version"])


def _instance_images(instances: Iterable[Resource]) -> set[str]:
    return {str(i.attributes["ImageId"]) for i in instances if "ImageId" in i.attributes}


def _instance_groups(instances: Iterable[Resource]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for inst in instances:
        for group in inst.attributes.get("SecurityGroups") or []:
            if isinstance(group, dict) and "GroupId" in group:
                out.setdefault(str(group["GroupId"]), set()).add(inst.arn)
    return out


def _merge(*maps: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for m in maps:
        for key, values in m.items():
            out.setdefault(key, set()).update(values)
    return out


def _version_user_data(templates: CollectResult) -> TemplateUserData:
    """(template id, version number) -> the version's redacted user data, as read."""
    by_id = {r.id: r for r in templates.resources if "Versions" not in r.unavailable}

    def lookup(template_id: str, version: str) -> JSON | None:
        template = by_id.get(template_id)
        versions = template.attributes.get("Versions") if template else None
        entry = versions.get(version) if isinstance(versions, dict) else None
        data = entry.get("LaunchTemplateData") if isinstance(entry, dict) else None
        return data.get("UserData") if isinstance(data, dict) else None

    return lookup


def collect_ec2(ctx: UnitContext) -> CollectResult:
    """ec2.instance, ec2.image, ec2.security_group, ec2.launch_template, autoscaling.group."""
    ec2: Any = ctx.client("ec2")
    listed = list_instance_attributes(ctx, ec2)
    groups, group_gaps = list_groups(ctx, ctx.client("autoscaling"))

    refs: dict[str, set[str]] = {}
    for template_id, version in [
        *_instance_template_refs(listed.attributes),
        *(ref for g in groups for ref in template_refs(g)),
    ]:
        refs.setdefault(template_id, set()).add(version)
    templates = collect_launch_templates(ctx, ec2, refs)
    instances = collect_instances(ctx, ec2, listed, _version_user_data(templates.result))
    asgs = group_resources(ctx, groups, templates.index)

    images = collect_images(ctx, ec2, _instance_images(instances.resources) | templates.image_ids)
    attachments = _merge(_instance_groups(instances.resources), templates.security_groups)
    security_groups = collect_security_groups(ctx, ec2, attachments)
    result = (
        instances
        + CollectResult(gaps=tuple(group_gaps))
        + asgs
        + templates.result
        + images
        + security_groups
    )
    missed = completeness_gaps(result.resources, result.gaps, Service.EC2, templates.gone)
    return result + CollectResult(gaps=missed)


SPEC = CollectorSpec(
    collect_ec2,
    kinds=(
        Kind.EC2_INSTANCE,
        Kind.EC2_IMAGE,
        Kind.EC2_SECURITY_GROUP,
        Kind.EC2_LAUNCH_TEMPLATE,
        Kind.ASG,
    ),
    iam_actions=frozenset(
        {
            "autoscaling:DescribeAutoScalingGroups",
            "ec2:DescribeImages",
            "ec2:DescribeInstanceAttribute",
            "ec2:DescribeInstances",
            "ec2:DescribeLaunchTemplateVersions",
            "ec2:DescribeLaunchTemplates",
            "ec2:DescribeSecurityGroups",
        }
    ),
)

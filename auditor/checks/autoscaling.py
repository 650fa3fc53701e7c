"""Checks on Auto Scaling groups that need more than one attribute or a related resource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.checks.images import image_age
from auditor.checks.result import PASS, CheckResult, fail, unknown, unreadable
from auditor.model import Clock, Kind, Resource, SnapshotView


def asg_ami_age(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    blocked = unreadable(
        resource, "LaunchTemplate", "LaunchConfigurationName", "ResolvedLaunchTemplateVersion"
    )
    if blocked is not None:
        return blocked
    attrs = resource.attributes
    spec = attrs.get("LaunchTemplate")
    if not isinstance(spec, dict | Mapping):
        config = attrs.get("LaunchConfigurationName")
        if config:
            return unknown(
                f"the group uses launch configuration {config}, whose AMI is not collected "
                "(see asg.uses_launch_configuration)",
                {"LaunchConfigurationName": config},
            )
        return unknown("the group has no launch template")
    template_id = spec.get("LaunchTemplateId")
    version = attrs.get("ResolvedLaunchTemplateVersion") or spec.get("Version")
    template = (
        view.find(Kind.EC2_LAUNCH_TEMPLATE, resource.account, resource.region, template_id)
        if isinstance(template_id, str)
        else None
    )
    if template is None:
        gap = view.gap_for(Kind.EC2_LAUNCH_TEMPLATE, resource.account, resource.region)
        evidence: dict[str, Any] = {"LaunchTemplateId": template_id}
        if gap is not None:
            evidence["gap"] = gap.to_json()
        return unknown(f"launch template {template_id} was not collected", evidence)
    versions = template.attributes.get("Versions")
    data = None
    if isinstance(versions, dict | Mapping) and isinstance(versions.get(str(version)), Mapping):
        data = versions[str(version)].get("LaunchTemplateData")
    if not isinstance(data, dict | Mapping):
        return unknown(
            f"version {version} of launch template {template_id} was not collected",
            {"LaunchTemplateId": template_id, "version": version},
        )
    image_id = data.get("ImageId")
    if not isinstance(image_id, str):
        return unknown(
            f"launch template {template_id} version {version} names no AMI",
            {"LaunchTemplateId": template_id, "version": version},
        )
    return image_age(
        view,
        resource.account,
        resource.region,
        image_id,
        clock,
        params["days"],
        f"launch template {template_id} version {version}:",
    )


def asg_max_instance_lifetime(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (
        resource.unavailable
        and (blocked := unreadable(resource, "MaxInstanceLifetime")) is not None
    ):
        return blocked
    lifetime = resource.attributes.get("MaxInstanceLifetime")
    limit = int(params["days"] * 86400)
    if not isinstance(lifetime, int) or lifetime <= 0:
        return fail(
            "MaxInstanceLifetime is not set: instances may live forever",
            {"MaxInstanceLifetime": lifetime, "max_seconds": limit},
        )
    if lifetime > limit:
        return fail(
            f"MaxInstanceLifetime is {lifetime // 86400} days (max {params['days']:g})",
            {"MaxInstanceLifetime": lifetime, "max_seconds": limit},
        )
    return PASS

"""Checks of rules `asg.*`: Auto Scaling groups and their members.

A stale member is an instance that no longer matches what its group now launches: its own
ImageId / InstanceType against the launch template version the group resolves to now (its
data, not only the version label, which a template change under `$Latest`/`$Default` does
not move on existing instances).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.checks.amis import image_age
from auditor.checks.lt import template_data, template_differences
from auditor.checks.result import PASS, CheckResult, fail, unknown, unreadable
from auditor.checks.spec import CheckSpec
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
    if (blocked := unreadable(resource, "MaxInstanceLifetime")) is not None:
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


_Target = tuple[str, str, Mapping[str, Any]]  # (template id, resolved version, its data)


def _group_target(view: SnapshotView, resource: Resource, name: str) -> _Target | CheckResult:
    """What group `name` launches now, or why that cannot be told (or PASS: no group)."""
    group = view.find(Kind.ASG, resource.account, resource.region, name)
    if group is None:
        if view.gap_for(Kind.ASG, resource.account, resource.region):
            return unknown(f"Auto Scaling group {name} could not be collected")
        return PASS  # the group is gone: the instance is an orphan, not a stale member
    spec = group.attributes.get("LaunchTemplate")
    resolved = group.attributes.get("ResolvedLaunchTemplateVersion")
    if not isinstance(spec, Mapping):
        return unknown(f"group {name} launches from a launch configuration, which is not collected")
    if not isinstance(resolved, str):
        return unknown(f"the launch template version of group {name} could not be resolved")
    template_id = str(spec.get("LaunchTemplateId"))
    data = template_data(view, resource, template_id, resolved)
    if isinstance(data, CheckResult):
        return data
    return template_id, resolved, data


def _targets(_: SnapshotView) -> dict[tuple[str, str, str], _Target | CheckResult]:
    return {}


def asg_instance_stale(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    """An Auto Scaling group member whose AMI or type differs from the group's template now."""
    attrs = resource.attributes
    name = attrs.get("AutoScalingGroupName")
    if not isinstance(name, str) or attrs.get("EksNodegroupName"):
        return PASS  # not an ASG member (node group members: eks.node_stale)
    fields: list[str] = params["fields"]
    blocked = unreadable(resource, *fields)
    if blocked is not None:
        return blocked
    cache = view.memo("stale.asg_targets", _targets)  # one resolution per group
    key = (resource.account, resource.region, name)
    target = cache.get(key)
    if target is None:
        target = cache[key] = _group_target(view, resource, name)
    if isinstance(target, CheckResult):
        return target
    template_id, resolved, data = target
    diffs = template_differences(resource, data, fields)
    if not diffs:
        return PASS
    launched = attrs.get("LaunchTemplate") or {}
    return fail(
        f"differs from what group {name} launches now (template {template_id} version "
        f"{resolved}): " + ", ".join(str(d["field"]) for d in diffs),
        {
            "group": name,
            "launch_template": template_id,
            "group_version": resolved,
            "instance_version": launched.get("Version") if isinstance(launched, Mapping) else None,
            "differences": diffs,
        },
    )


CHECKS: Mapping[str, CheckSpec] = {
    "asg_ami_age": CheckSpec(asg_ami_age),
    "asg_instance_stale": CheckSpec(asg_instance_stale),
    "asg_max_instance_lifetime": CheckSpec(asg_max_instance_lifetime),
}

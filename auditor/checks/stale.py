"""Stale members: instances that no longer match what their group now launches.

The comparison uses the instance's own ImageId / InstanceType against the launch template
version the group resolves to now (its data, not only the version label, which a template
change under `$Latest`/`$Default` does not move on existing instances).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.checks.result import PASS, CheckResult, fail, unknown, unreadable
from auditor.model import JSON, Clock, Kind, Resource, SnapshotView


def _template_data(
    view: SnapshotView, resource: Resource, template_id: str, version: str
) -> Mapping[str, Any] | CheckResult:
    template = view.find(Kind.EC2_LAUNCH_TEMPLATE, resource.account, resource.region, template_id)
    if template is None:
        return unknown(
            f"launch template {template_id} is not in the snapshot"
            + (
                " (launch templates could not be listed)"
                if view.gap_for(Kind.EC2_LAUNCH_TEMPLATE, resource.account, resource.region)
                else ""
            )
        )
    entry = (template.attributes.get("Versions") or {}).get(version)
    if not isinstance(entry, Mapping):
        return unknown(f"launch template {template_id} version {version} was not collected")
    data = entry.get("LaunchTemplateData")
    return data if isinstance(data, Mapping) else {}


def _differences(
    instance: Resource, data: Mapping[str, Any], fields: list[str]
) -> list[dict[str, JSON]]:
    out: list[dict[str, JSON]] = []
    for name in fields:
        wanted = data.get(name)
        if wanted is not None and instance.attributes.get(name) != wanted:
            out.append(
                {"field": name, "instance": instance.attributes.get(name), "template": wanted}
            )
    return out


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
    data = _template_data(view, resource, template_id, resolved)
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
    diffs = _differences(resource, data, fields)
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


def _release_date(release: str) -> str:
    """`1.29.0-20240129` -> `20240129`."""
    return release.rsplit("-", 1)[-1]


def eks_node_stale(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    """A node group member launched from an older template version or AMI than the group's."""
    ng_name = resource.attributes.get("EksNodegroupName")
    cluster = resource.attributes.get("EksClusterName")
    if not isinstance(ng_name, str) or not isinstance(cluster, str):
        return PASS
    blocked = unreadable(resource, "ImageId", "LaunchTemplate")
    if blocked is not None:
        return blocked
    nodegroup = view.find(
        Kind.EKS_NODEGROUP, resource.account, resource.region, f"{cluster}/{ng_name}"
    )
    if nodegroup is None:
        if view.gap_for(Kind.EKS_NODEGROUP, resource.account, resource.region):
            return unknown(f"node group {cluster}/{ng_name} could not be collected")
        return PASS
    spec = nodegroup.attributes.get("launchTemplate")
    if isinstance(spec, Mapping) and spec.get("id"):
        return _stale_by_template(resource, nodegroup, spec, view)
    return _stale_by_release(resource, nodegroup, view)


def _stale_by_template(
    resource: Resource, nodegroup: Resource, spec: Mapping[str, Any], view: SnapshotView
) -> CheckResult:
    template_id, version = str(spec["id"]), str(spec.get("version"))
    launched = resource.attributes.get("LaunchTemplate")
    diffs: list[dict[str, JSON]] = []
    if isinstance(launched, Mapping) and (
        launched.get("LaunchTemplateId") != template_id or launched.get("Version") != version
    ):
        diffs.append(
            {
                "field": "LaunchTemplate",
                "instance": f"{launched.get('LaunchTemplateId')}:{launched.get('Version')}",
                "nodegroup": f"{template_id}:{version}",
            }
        )
    data = _template_data(view, resource, template_id, version)
    if isinstance(data, CheckResult):
        if not diffs:
            return data
    else:
        diffs += [
            {"field": d["field"], "instance": d["instance"], "nodegroup": d["template"]}
            for d in _differences(resource, data, ["ImageId"])
        ]
    if not diffs:
        return PASS
    return fail(
        f"launched from an older launch template version or AMI than node group "
        f"{nodegroup.id} uses ({template_id} version {version})",
        {"nodegroup": nodegroup.id, "differences": diffs},
    )


def _stale_by_release(resource: Resource, nodegroup: Resource, view: SnapshotView) -> CheckResult:
    """EKS-optimized AMIs are named after their release date (`...-v20240129`)."""
    release = nodegroup.attributes.get("releaseVersion")
    if not isinstance(release, str) or not release:
        return unknown(f"node group {nodegroup.id} has no releaseVersion to compare with")
    image_id = str(resource.attributes.get("ImageId"))
    image = view.find(Kind.EC2_IMAGE, resource.account, resource.region, image_id)
    if image is None:
        return unknown(f"AMI {image_id} of the node is not visible: cannot tell its release")
    name = str(image.attributes.get("Name") or "")
    tail = name.rsplit("-v", 1)[-1] if "-v" in name else ""
    if not (tail.isdigit() and len(tail) == 8):
        return unknown(f"AMI name {name!r} does not carry an EKS release date")
    if tail == _release_date(release):
        return PASS
    return fail(
        f"runs AMI release {tail}, node group {nodegroup.id} now uses {release}",
        {
            "nodegroup": nodegroup.id,
            "differences": [
                {"field": "releaseVersion", "instance": tail, "nodegroup": _release_date(release)}
            ],
            "image": image_id,
        },
    )

"""Checks of rules `eks.*`: clusters, node groups and their nodes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from auditor.checks.amis import image_age
from auditor.checks.lt import template_data, template_differences
from auditor.checks.result import PASS, CheckResult, age_days, fail, older_than, unknown, unreadable
from auditor.checks.spec import CheckSpec
from auditor.model import JSON, Clock, Kind, Resource, Severity, SnapshotView

_RELEASE_DATE = re.compile(r"-(\d{8})$")


_VERSION = re.compile(r"^(\d+)\.(\d+)")


def version_tuple(text: Any) -> tuple[int, int] | None:
    match = _VERSION.match(str(text)) if text is not None else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def eks_version_unsupported(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (blocked := unreadable(resource, "version")) is not None:
        return blocked
    oldest = version_tuple(params["oldest_supported"])
    version = resource.attributes.get("version")
    current = version_tuple(version)
    if oldest is None:
        return unknown(f"oldest_supported {params['oldest_supported']!r} is not a version")
    if current is None:
        return unknown(f"cluster version {version!r} is not readable", {"version": version})
    if current >= oldest:
        return PASS
    return fail(
        f"Kubernetes {version} is older than the oldest supported {params['oldest_supported']}",
        {"version": version, "oldest_supported": params["oldest_supported"]},
    )


def eks_endpoint_public(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (blocked := unreadable(resource, "resourcesVpcConfig")) is not None:
        return blocked
    config = resource.attributes.get("resourcesVpcConfig")
    if not isinstance(config, dict | Mapping):
        return unknown("resourcesVpcConfig was not collected")
    if config.get("endpointPublicAccess") is not True:
        return PASS
    cidrs = config.get("publicAccessCidrs")
    # AWS's default for a public endpoint is 0.0.0.0/0
    world = not cidrs or "0.0.0.0/0" in cidrs
    return fail(
        "the API server endpoint is public" + (" to the whole internet" if world else ""),
        {"endpointPublicAccess": True, "publicAccessCidrs": cidrs},
        severity=Severity.CRITICAL if world else None,
    )


def eks_nodegroup_remote_access(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (blocked := unreadable(resource, "remoteAccess")) is not None:
        return blocked
    remote = resource.attributes.get("remoteAccess")
    if not isinstance(remote, dict | Mapping) or not remote.get("ec2SshKey"):
        return PASS
    sources = remote.get("sourceSecurityGroups")
    return fail(
        f"nodes accept SSH with key pair {remote.get('ec2SshKey')}"
        + ("" if sources else "; no source security groups: port 22 is open to the world"),
        {"ec2SshKey": remote.get("ec2SshKey"), "sourceSecurityGroups": sources},
        severity=None if sources else Severity.CRITICAL,
    )


def eks_nodegroup_ami_stale(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (blocked := unreadable(resource, "releaseVersion")) is not None:
        return blocked
    release = resource.attributes.get("releaseVersion")
    if isinstance(release, str) and release.startswith("ami-"):
        return image_age(
            view, resource.account, resource.region, release, clock, params["days"], "node"
        )
    match = _RELEASE_DATE.search(release) if isinstance(release, str) else None
    if match is None:
        return unknown(
            f"releaseVersion {release!r} carries no release date", {"releaseVersion": release}
        )
    try:
        released = datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        return unknown(
            f"releaseVersion {release!r} has an invalid date", {"releaseVersion": release}
        )
    now = clock.now()
    if not older_than(released, now, params["days"]):
        return PASS
    return fail(
        f"node AMI release {release} is {age_days(released, now)} days old "
        f"(max {params['days']:g})",
        {
            "releaseVersion": release,
            "age_days": age_days(released, now),
            "max_days": params["days"],
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
    data = template_data(view, resource, template_id, version)
    if isinstance(data, CheckResult):
        if not diffs:
            return data
    else:
        diffs += [
            {"field": d["field"], "instance": d["instance"], "nodegroup": d["template"]}
            for d in template_differences(resource, data, ["ImageId"])
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


CHECKS: Mapping[str, CheckSpec] = {
    "eks_endpoint_public": CheckSpec(eks_endpoint_public),
    "eks_node_stale": CheckSpec(eks_node_stale),
    "eks_nodegroup_ami_stale": CheckSpec(eks_nodegroup_ami_stale),
    "eks_nodegroup_remote_access": CheckSpec(eks_nodegroup_remote_access),
    "eks_version_unsupported": CheckSpec(eks_version_unsupported),
}

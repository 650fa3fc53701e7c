"""Checks on EKS clusters and managed node groups."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from auditor.checks.images import image_age
from auditor.checks.result import PASS, CheckResult, age_days, fail, older_than, unknown, unreadable
from auditor.model import Clock, Resource, Severity, SnapshotView

_RELEASE_DATE = re.compile(r"-(\d{8})$")
_VERSION = re.compile(r"^(\d+)\.(\d+)")


def version_tuple(text: Any) -> tuple[int, int] | None:
    match = _VERSION.match(str(text)) if text is not None else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def eks_version_unsupported(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if resource.unavailable and (blocked := unreadable(resource, "version")) is not None:
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
    if resource.unavailable and (blocked := unreadable(resource, "resourcesVpcConfig")) is not None:
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
    if resource.unavailable and (blocked := unreadable(resource, "remoteAccess")) is not None:
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
    if resource.unavailable and (blocked := unreadable(resource, "releaseVersion")) is not None:
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

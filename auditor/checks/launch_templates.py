"""Checks on launch template versions in use (by Auto Scaling groups, node groups, instances)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from auditor.checks.result import PASS, CheckResult, fail, unknown, unreadable
from auditor.model import JSON, Clock, Resource, SnapshotView


def versions_in_use(resource: Resource) -> Iterator[tuple[str, Mapping[str, Any] | None]]:
    """(version, LaunchTemplateData) for every version in use; data None when not collected."""
    versions = resource.attributes.get("Versions")
    in_use = resource.attributes.get("VersionsInUse")
    if not isinstance(in_use, list):
        return
    for number in in_use:
        version = versions.get(str(number)) if isinstance(versions, dict | Mapping) else None
        data = version.get("LaunchTemplateData") if isinstance(version, dict | Mapping) else None
        yield str(number), data if isinstance(data, dict | Mapping) else None


def _missing(resource: Resource, version: str) -> CheckResult:
    return unknown(
        f"version {version} is in use but its data was not collected",
        {"LaunchTemplateId": resource.id, "version": version},
    )


Inspect = Callable[[str, Mapping[str, Any]], list[dict[str, JSON]]]


def across_versions_in_use(
    resource: Resource, inspect: Inspect
) -> CheckResult | list[dict[str, JSON]]:
    """`inspect(version, data)` over every version in use, collected; or `unknown` when the
    versions could not be read or one in use was not collected (never a silent pass)."""
    if (
        resource.unavailable
        and (blocked := unreadable(resource, "Versions", "VersionsInUse")) is not None
    ):
        return blocked
    found: list[dict[str, JSON]] = []
    for version, data in versions_in_use(resource):
        if data is None:
            return _missing(resource, version)
        found.extend(inspect(version, data))
    return found


def _key_pair(version: str, data: Mapping[str, Any]) -> list[dict[str, JSON]]:
    key = data.get("KeyName")
    return [{"version": version, "KeyName": key}] if key else []


def _imdsv1(version: str, data: Mapping[str, Any]) -> list[dict[str, JSON]]:
    options = data.get("MetadataOptions")
    options = options if isinstance(options, dict | Mapping) else {}
    if options.get("HttpEndpoint") == "disabled" or options.get("HttpTokens") == "required":
        return []
    return [{"version": version, "HttpTokens": options.get("HttpTokens")}]


def lt_ssh_keypair(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    offending = across_versions_in_use(resource, _key_pair)
    if isinstance(offending, CheckResult):
        return offending
    if not offending:
        return PASS
    return fail(
        f"launch template version(s) in use attach an SSH key pair: "
        f"{', '.join(str(o['version']) for o in offending)}",
        {"versions": offending},
    )


def lt_imdsv2_required(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    offending = across_versions_in_use(resource, _imdsv1)
    if isinstance(offending, CheckResult):
        return offending
    if not offending:
        return PASS
    return fail(
        "launch template version(s) in use do not require IMDSv2 (HttpTokens=required)",
        {"versions": offending},
    )

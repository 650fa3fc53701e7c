"""Checks of rules `lt.*`: launch templates, across the versions in use."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from auditor.checks.result import PASS, CheckResult, fail, unknown, unreadable
from auditor.checks.secret_hits import Allowlist, secret_hits
from auditor.checks.spec import CheckSpec
from auditor.model import JSON, Clock, Kind, Resource, SnapshotView


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
    if (blocked := unreadable(resource, "Versions", "VersionsInUse")) is not None:
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


def lt_userdata_secrets(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    allow = Allowlist(params, clock)
    found = across_versions_in_use(
        resource,
        lambda version, data: (
            secret_hits(data.get("UserData"), f"version {version} user data ", allow) or []
        ),
    )
    if isinstance(found, CheckResult):
        return found
    if not found:
        return PASS
    return fail(
        f"user data of launch template version(s) in use contains {len(found)} secret(s)",
        {"secrets": found},
    )


def template_data(
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


def template_differences(
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


CHECKS: Mapping[str, CheckSpec] = {
    "lt_imdsv2_required": CheckSpec(lt_imdsv2_required),
    "lt_ssh_keypair": CheckSpec(lt_ssh_keypair),
    "lt_userdata_secrets": CheckSpec(lt_userdata_secrets, finds_secrets=True),
}

"""Checks for secrets in user data and container environments.

Collectors already replaced every value with a redacted-text object (docs/resources.md);
these checks only read its `secrets` list, and the evidence keeps location, detector and hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.checks.containers import containers
from auditor.checks.launch_templates import across_versions_in_use
from auditor.checks.result import PASS, CheckResult, fail, unknown, unreadable
from auditor.model import JSON, Clock, Resource, SnapshotView


def _hits(redacted: Any, prefix: str) -> list[dict[str, JSON]] | None:
    """The secret hits of a redacted-text object, located; None when it is not one."""
    if not isinstance(redacted, dict | Mapping):
        return None
    out: list[dict[str, JSON]] = []
    for hit in redacted.get("secrets") or ():
        if isinstance(hit, dict | Mapping):
            out.append(
                {
                    "location": f"{prefix}{hit.get('location', '')}",
                    "detector": hit.get("detector"),
                    "hash": hit.get("hash"),
                }
            )
    return out


def ec2_userdata_secrets(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if resource.unavailable and (blocked := unreadable(resource, "UserData")) is not None:
        return blocked
    hits = _hits(resource.attributes.get("UserData"), "user data ")
    if hits is None:
        return unknown("user data was not collected", {"unavailable": ["UserData"]})
    if not hits:
        return PASS
    return fail(f"user data contains {len(hits)} secret(s)", {"secrets": hits})


def lt_userdata_secrets(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    found = across_versions_in_use(
        resource,
        lambda version, data: _hits(data.get("UserData"), f"version {version} user data ") or [],
    )
    if isinstance(found, CheckResult):
        return found
    if not found:
        return PASS
    return fail(
        f"user data of launch template version(s) in use contains {len(found)} secret(s)",
        {"secrets": found},
    )


def ecs_env_secrets(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (
        resource.unavailable
        and (blocked := unreadable(resource, "containerDefinitions")) is not None
    ):
        return blocked
    found: list[dict[str, JSON]] = []
    if not isinstance(resource.attributes.get("containerDefinitions"), list):
        return unknown("the task definition has no containerDefinitions")
    for container in containers(resource):
        for variable in container.get("environment") or ():
            if not isinstance(variable, dict | Mapping):
                continue
            hits = _hits(variable.get("value"), "")
            for hit in hits or ():
                found.append(
                    {
                        "location": f"container {container.get('name')} env {variable.get('name')}",
                        "detector": hit["detector"],
                        "hash": hit["hash"],
                    }
                )
    if not found:
        return PASS
    names = sorted({str(f["location"]) for f in found})
    return fail(
        f"secret(s) passed as plain environment variables: {', '.join(names)}",
        {"secrets": found},
    )

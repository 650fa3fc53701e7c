"""Checks for secrets in user data and container environments.

Collectors already replaced every value with a redacted-text object (docs/resources.md);
these checks only read its `secrets` list, and the evidence keeps location, detector and hash.
The estate's allowlist (config `secrets.allow`, the rules' `allowlist` param) drops known
non-secrets by hash or variable-name glob until the entry expires.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from datetime import date
from typing import Any

from auditor.checks.containers import containers
from auditor.checks.launch_templates import across_versions_in_use
from auditor.checks.result import PASS, CheckResult, fail, unknown, unreadable
from auditor.model import JSON, Clock, Resource, SnapshotView

# The checks whose evidence comes from auditor.secrets (`rules explain` lists its detectors).
SECRET_CHECKS = frozenset(
    {"ec2_userdata_secrets", "lt_userdata_secrets", "ecs_env_secrets", "ecr_image_secrets"}
)


class _Allowlist:
    """The entries of the `allowlist` param that have not expired (UTC day inclusive)."""

    def __init__(self, params: Mapping[str, Any], clock: Clock) -> None:
        today = clock.now().date()
        self.entries = [
            e
            for e in params.get("allowlist") or ()
            if isinstance(e, Mapping) and date.fromisoformat(str(e["expires"])) >= today
        ]

    def allows(self, hit: Mapping[str, Any], name: str) -> bool:
        for entry in self.entries:
            if entry.get("hash") and entry["hash"] == hit.get("hash"):
                return True
            if entry.get("name") and name and fnmatch.fnmatchcase(name, str(entry["name"])):
                return True
        return False


def _hits(
    redacted: Any, prefix: str, allow: _Allowlist, name: str = ""
) -> list[dict[str, JSON]] | None:
    """The secret hits of a redacted-text object, located, minus the allowed ones; None when
    it is not one."""
    if not isinstance(redacted, dict | Mapping):
        return None
    out: list[dict[str, JSON]] = []
    for hit in redacted.get("secrets") or ():
        if isinstance(hit, dict | Mapping) and not allow.allows(hit, str(hit.get("name") or name)):
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
    hits = _hits(resource.attributes.get("UserData"), "user data ", _Allowlist(params, clock))
    if hits is None:
        return unknown("user data was not collected", {"unavailable": ["UserData"]})
    if not hits:
        return PASS
    return fail(f"user data contains {len(hits)} secret(s)", {"secrets": hits})


def lt_userdata_secrets(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    allow = _Allowlist(params, clock)
    found = across_versions_in_use(
        resource,
        lambda version, data: (
            _hits(data.get("UserData"), f"version {version} user data ", allow) or []
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


def ecs_env_secrets(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (
        resource.unavailable
        and (blocked := unreadable(resource, "containerDefinitions")) is not None
    ):
        return blocked
    found: list[dict[str, JSON]] = []
    allow = _Allowlist(params, clock)
    if not isinstance(resource.attributes.get("containerDefinitions"), list):
        return unknown("the task definition has no containerDefinitions")
    for container in containers(resource):
        for variable in container.get("environment") or ():
            if not isinstance(variable, dict | Mapping):
                continue
            hits = _hits(variable.get("value"), "", allow, str(variable.get("name") or ""))
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

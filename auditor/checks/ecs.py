"""Checks of rules `ecs.*`: task definitions in use and their containers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from auditor.checks.result import (
    PASS,
    CheckResult,
    fail,
    unknown,
    unreadable,
)
from auditor.checks.secret_hits import Allowlist, secret_hits
from auditor.checks.spec import CheckSpec
from auditor.model import JSON, Clock, Resource, Severity, SnapshotView

_ROOT_USERS = ("root", "0")


def containers(
    resource: Resource, key: str = "containerDefinitions"
) -> Iterator[Mapping[str, Any]]:
    """The well-formed entries of a container list attribute (task definition or task)."""
    for container in resource.attributes.get(key) or ():
        if isinstance(container, dict | Mapping):
            yield container


def image_tag(image: str) -> str | None:
    """The tag of an image reference, None when there is none ("repo", "repo@sha256:...")."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None


def ecs_image_not_pinned(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (blocked := unreadable(resource, "containerDefinitions")) is not None:
        return blocked
    loose: list[dict[str, JSON]] = []
    worst: Severity | None = None
    for container in containers(resource, "containerDefinitions"):
        image = str(container.get("image", ""))
        if "@sha256:" in image:
            continue
        tag = image_tag(image)
        loose.append({"container": container.get("name"), "image": image, "tag": tag})
        if tag is None or tag == "latest":
            worst = Severity.HIGH
    if not loose:
        return PASS
    return fail(
        "image(s) not pinned by digest: "
        + ", ".join(f"{c['container']}={c['image']}" for c in loose),
        {"containers": loose},
        severity=worst,
    )


def ecs_root_user(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (blocked := unreadable(resource, "containerDefinitions")) is not None:
        return blocked
    as_root: list[dict[str, JSON]] = []
    for container in containers(resource, "containerDefinitions"):
        user = container.get("user")
        if not user or str(user).split(":", 1)[0] in _ROOT_USERS:
            as_root.append({"container": container.get("name"), "user": user})
    if not as_root:
        return PASS
    return fail(
        "container(s) run as root: " + ", ".join(str(c["container"]) for c in as_root),
        {"containers": as_root},
    )


def ecs_env_secrets(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (blocked := unreadable(resource, "containerDefinitions")) is not None:
        return blocked
    found: list[dict[str, JSON]] = []
    allow = Allowlist(params, clock)
    if not isinstance(resource.attributes.get("containerDefinitions"), list):
        return unknown("the task definition has no containerDefinitions")
    for container in containers(resource):
        for variable in container.get("environment") or ():
            if not isinstance(variable, dict | Mapping):
                continue
            hits = secret_hits(variable.get("value"), "", allow, str(variable.get("name") or ""))
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


CHECKS: Mapping[str, CheckSpec] = {
    "ecs_env_secrets": CheckSpec(ecs_env_secrets, finds_secrets=True),
    "ecs_image_not_pinned": CheckSpec(ecs_image_not_pinned),
    "ecs_root_user": CheckSpec(ecs_root_user),
}

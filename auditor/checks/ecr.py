"""Checks of rules `ecr.*`: the ECR images running tasks run."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from auditor.checks.ecs import containers
from auditor.checks.result import (
    PASS,
    CheckResult,
    age_days,
    fail,
    parse_time,
    text_older_than,
    unknown,
    unreadable,
)
from auditor.checks.spec import CheckSpec
from auditor.model import JSON, Clock, Kind, Resource, SnapshotView

_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<name>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]+))?$"
)


@lru_cache(maxsize=8192)
def ecr_reference(image: str) -> tuple[str, str, str, str | None] | None:
    """(account, region, repository, digest) of an ECR image reference; None if not ECR."""
    match = _ECR_IMAGE.match(image)
    if match is None:
        return None
    return match["account"], match["region"], match["name"], match["digest"]


def _ecr_image(
    view: SnapshotView, task: Resource, account: str, region: str, image_id: str
) -> Resource | None:
    found = view.find(Kind.ECR_IMAGE, account, region, image_id)
    if found is None and (account, region) != (task.account, task.region):
        found = view.find(Kind.ECR_IMAGE, task.account, task.region, image_id)
    return found


def ecr_running_image_age(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (blocked := unreadable(resource, "containers")) is not None:
        return blocked
    old: list[dict[str, JSON]] = []
    now = clock.now()
    for container in containers(resource, "containers"):
        image = str(container.get("image", ""))
        reference = ecr_reference(image)
        if reference is None:
            continue  # not an ECR image: this rule does not apply to it
        account, region, name, pinned = reference
        digest = container.get("imageDigest") or pinned
        if not digest:
            return unknown(
                f"container {container.get('name')} reports no image digest",
                {"image": image},
            )
        image_id = f"{name}@{digest}"
        found = _ecr_image(view, resource, account, region, image_id)
        if found is None:
            gap = view.gap_for(Kind.ECR_IMAGE, account, region) or view.gap_for(
                Kind.ECR_IMAGE, resource.account, resource.region
            )
            evidence: dict[str, JSON] = {"image": image, "imageDigest": digest}
            if gap is not None:
                evidence["gap"] = gap.to_json()
                return unknown(f"image {image_id} could not be described", evidence)
            return unknown(f"image {image_id} is not in ECR any more: age unknown", evidence)
        pushed_text = found.attributes.get("imagePushedAt")
        too_old = text_older_than(pushed_text, now, params["days"])
        if too_old is None:
            return unknown(f"image {image_id} has no readable imagePushedAt", {"image": image})
        if too_old:
            pushed = parse_time(pushed_text)
            old.append(
                {
                    "container": container.get("name"),
                    "image": image,
                    "imageDigest": digest,
                    "imagePushedAt": pushed_text,
                    "age_days": age_days(pushed, now) if pushed else None,
                }
            )
    if not old:
        return PASS
    return fail(
        f"running image(s) pushed more than {params['days']:g} days ago: "
        + ", ".join(str(o["image"]) for o in old),
        {"containers": old, "max_days": params["days"]},
    )


CHECKS: Mapping[str, CheckSpec] = {
    "ecr_running_image_age": CheckSpec(ecr_running_image_age),
}

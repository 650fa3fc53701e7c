"""Pass, fail and unknown cases for the rules on images in use (issue 18)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from auditor.model import Kind, Resource
from tests.checks.cases import Case
from tests.checks.resources import (
    ACCOUNT,
    DIGEST,
    REGION,
    REPO_URI,
    ago,
    container,
    ecr_image,
    ecr_repository,
    ecs_task,
    gap,
    task_definition,
)

OTHER = "sha256:" + "b" * 64
HIT = {"location": "config env DB_PASSWORD", "detector": "Secret-looking variable name",
       "hash": "0123456789ab", "name": "DB_PASSWORD"}  # fmt: skip
CLEAN_SCAN = {"status": "COMPLETE", "completedAt": ago(2), "counts": {}, "oldest": {}}


def content(*hits: dict[str, Any], layers: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "manifestMediaType": "application/vnd.oci.image.manifest.v1+json",
        "configDigest": "sha256:" + "c" * 64,
        "platform": None,
        "secrets": list(hits),
        "layers": layers or {"scanned": False},
    }


def image(
    digest: str = DIGEST,
    tags: tuple[str, ...] = ("v42",),
    unavailable: tuple[str, ...] = (),
    **attrs: Any,
) -> Resource:
    base = ecr_image(10, digest)
    merged = {
        **base.attributes,
        "imageTags": list(tags),
        "imageContent": content(),
        "scan": CLEAN_SCAN,
    }
    merged.update(attrs)
    for key in unavailable:
        merged.pop(key, None)
    return replace(base, attributes=merged, unavailable=unavailable)


def critical(days: float, **counts: int) -> dict[str, Any]:
    return {
        "status": "COMPLETE",
        "completedAt": ago(days),
        "counts": counts or {"CRITICAL": 2, "HIGH": 5},
        "oldest": {"CRITICAL": ago(days), "HIGH": ago(days)},
    }


REPO = ecr_repository()
NO_SCAN_REPO = ecr_repository(
    imageScanningConfiguration={"scanOnPush": False},
    registryScanning={"scanType": "BASIC", "frequency": None},
)
REGISTRY_RULE_REPO = ecr_repository(
    imageScanningConfiguration={"scanOnPush": False},
    registryScanning={"scanType": "ENHANCED", "frequency": "CONTINUOUS_SCAN"},
)
PINNED = task_definition()
BY_TAG = task_definition(container(image=f"{REPO_URI}:v42"))
DOCKER_HUB = task_definition(container(image="nginx:1.27"))

S, N, V = "ecr.image_secrets", "ecr.image_not_scanned", "ecr.image_vulnerabilities"

IMAGE_CASES: tuple[Case, ...] = (
    # ecr.image_secrets
    Case(S, "clean image", "pass", PINNED, (image(), REPO)),
    Case(S, "clean image by tag", "pass", BY_TAG, (image(), REPO)),
    Case(S, "secret in env", "fail", PINNED, (image(imageContent=content(HIT)), REPO)),
    Case(S, "secret in the image a running task runs", "fail", BY_TAG, (
        image(),
        image(OTHER, tags=(), imageContent=content({**HIT, "location": "history step 3 curl -u"})),
        ecs_task(containers=[{"name": "web", "image": f"{REPO_URI}:v42", "imageDigest": OTHER}]),
    )),
    Case(S, "credentials file in a layer", "fail", PINNED, (image(imageContent=content(
        {"location": "layer 2 /root/.aws/credentials", "detector": "AWS Access Key",
         "hash": "0123456789ab"},
        layers={"scanned": True, "complete": True, "bytes": 10, "max_bytes": 100},
    )),)),
    Case(S, "not an ECR image", "unknown", DOCKER_HUB),
    Case(S, "content not readable", "unknown", PINNED, (image(unavailable=("imageContent",)),),
         gaps=(gap(Kind.ECR_IMAGE, resource_arn=image().arn),)),
    Case(S, "layer scan stopped at its cap", "unknown", PINNED, (image(imageContent=content(
        layers={"scanned": True, "complete": False, "incomplete_reason": "image", "bytes": 10,
                "max_bytes": 10},
    )),)),
    Case(S, "image not collected", "unknown", PINNED),
    Case(S, "images not listed", "unknown", PINNED, gaps=(gap(Kind.ECR_IMAGE),)),
    # ecr.image_not_scanned
    Case(N, "scanned, scan on push", "pass", PINNED, (image(), REPO)),
    Case(N, "registry rule instead of scan on push", "pass", PINNED,
         (image(), REGISTRY_RULE_REPO)),
    Case(N, "never scanned", "fail", PINNED,
         (image(scan={"status": "NONE", "counts": {}, "oldest": {}}), REPO)),
    Case(N, "repository without scanning", "fail", PINNED, (image(), NO_SCAN_REPO)),
    Case(N, "scan state not readable", "unknown", PINNED, (image(unavailable=("scan",)), REPO)),
    Case(N, "registry configuration not readable", "unknown", PINNED,
         (image(), replace(REPO, unavailable=("registryScanning",)))),
    Case(N, "not an ECR image", "unknown", DOCKER_HUB),
    # ecr.image_vulnerabilities
    Case(V, "clean scan", "pass", PINNED, (image(), REPO)),
    Case(V, "only HIGH findings", "pass", PINNED, (image(scan=critical(30, HIGH=4)), REPO)),
    Case(V, "critical findings", "fail", PINNED, (image(scan=critical(30)), REPO)),
    Case(V, "never scanned", "unknown", PINNED,
         (image(scan={"status": "NONE", "counts": {}, "oldest": {}}), REPO)),
    Case(V, "scan not readable", "unknown", PINNED, (image(unavailable=("scan",)), REPO)),
    Case(V, "not an ECR image", "unknown", DOCKER_HUB),
)  # fmt: skip

__all__ = ["ACCOUNT", "IMAGE_CASES", "REGION"]

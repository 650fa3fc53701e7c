"""ECR collector: repositories, and the images that ECS runs.

Calls per (account, region): DescribeRepositories pages of 1,000, then one DescribeImages
per repository for up to 100 image ids referenced by `ctx.image_refs` (running tasks and
services' task definitions). Only references into this account and region's registry are
resolved; an image in another registry is left for the rule engine to treat as unknown.

Then, for the images in use (ecr_images_in_use): what is inside each one (manifest and
config, optionally layers; read once per digest, ever) and its vulnerability scan state,
and, once per (account, region), GetRegistryScanningConfiguration: each repository's
`registryScanning` is the strongest registry rule that applies to it.

Repository tags are not collected: ListTagsForResource costs one call per repository and no
built-in rule reads them, so `ecr.repository` resources carry empty tags.

DescribeImages fails the whole call with ImageNotFoundException when one id is missing (a
tag moved, an image deleted). The missing id is read from the error message and the call is
retried without it; when the message cannot be matched the batch is halved instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auditor.aws import error_code, error_message
from auditor.collect.base import (
    AWS_ERRORS,
    CollectorSpec,
    CollectResult,
    UnitContext,
    chunks,
    gap,
    paginate,
    pick,
)
from auditor.collect.ecr_blobs import ImageScanOptions
from auditor.collect.ecr_images_in_use import InUse, image_resources
from auditor.collect.ecr_scans import ScanReadError, registry_scanning, repository_scanning
from auditor.model import JSON, CollectionGap, Kind, Resource, Service

PAGE_SIZE = 1000  # DescribeRepositories maxResults (the API maximum)
DESCRIBE_IMAGES_BATCH = 100  # image ids per DescribeImages call (the API maximum)

_REPOSITORY_KEYS = (
    "repositoryName",
    "repositoryArn",
    "repositoryUri",
    "registryId",
    "imageTagMutability",
    "imageTagMutabilityExclusionFilters",
    "createdAt",
)
_REGISTRY = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)"
    r"\.amazonaws\.com(?:\.cn)?/(?P<rest>.+)$"
)
_MISSING = re.compile(r"imageDigest:'(?P<digest>[^']*)', imageTag:'(?P<tag>[^']*)'")
_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnrecognizedClientException"})

ImageId = tuple[tuple[str, str], ...]  # hashable {"imageTag": t} or {"imageDigest": d}


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A container image reference into one ECR repository: by digest, else by tag."""

    repository: str
    tag: str | None
    digest: str | None

    @property
    def image_id(self) -> dict[str, str]:
        if self.digest:
            return {"imageDigest": self.digest}
        return {"imageTag": self.tag or "latest"}


def parse_ref(ref: str, account: str, region: str) -> ImageRef | None:
    """The ECR reference in (account, region) that `ref` names, or None for other registries."""
    match = _REGISTRY.match(ref.strip())
    if match is None or match["account"] != account or match["region"] != region:
        return None
    name, _, digest = match["rest"].partition("@")
    tag: str | None = None
    if ":" in name.rsplit("/", 1)[-1]:
        name, _, tag = name.rpartition(":")
    if not name:
        return None
    return ImageRef(repository=name, tag=tag or None, digest=digest or None)


def _repository_resource(
    ctx: UnitContext, repo: Mapping[str, Any], now: datetime, registry: dict[str, JSON] | None
) -> Resource:
    attributes = pick(repo, _REPOSITORY_KEYS)
    attributes["imageScanningConfiguration"] = pick(
        repo.get("imageScanningConfiguration") or {}, ("scanOnPush",)
    )
    if registry is not None:
        attributes["registryScanning"] = repository_scanning(registry, str(repo["repositoryName"]))
    return Resource(
        kind=Kind.ECR_REPOSITORY,
        arn=str(repo["repositoryArn"]),
        id=str(repo["repositoryName"]),
        account=ctx.account,
        region=ctx.region,
        tags={},
        attributes=attributes,
        observed_at=now,
        unavailable=() if registry is not None else ("registryScanning",),
    )


def _without_missing(batch: list[dict[str, str]], message: str) -> list[dict[str, str]] | None:
    """The batch minus the id an ImageNotFoundException names, or None if none matches."""
    match = _MISSING.search(message)
    if match is None:
        return None
    digest, tag = match["digest"], match["tag"]
    rest = [
        i
        for i in batch
        if not (
            (digest != "null" and i.get("imageDigest") == digest)
            or (tag != "null" and i.get("imageTag") == tag)
        )
    ]
    return rest if len(rest) < len(batch) else None


class _Images:
    """Resolves image ids repository by repository; remembers gaps and denials."""

    def __init__(self, ctx: UnitContext, client: Any) -> None:
        self.ctx = ctx
        self.client = client
        self.gaps: list[CollectionGap] = []
        self.denied = False

    def describe(self, repository: str, ids: list[dict[str, str]]) -> list[Mapping[str, Any]]:
        found: list[Mapping[str, Any]] = []
        pending = [ids]
        while pending and not self.denied:
            batch = pending.pop()
            try:
                response = self.client.describe_images(repositoryName=repository, imageIds=batch)
            except AWS_ERRORS as exc:
                code = error_code(exc)
                if code == "RepositoryNotFoundException":
                    return found
                if code != "ImageNotFoundException":
                    self.denied = code in _DENIED
                    self.gaps.append(
                        gap(self.ctx, Service.ECR, (Kind.ECR_IMAGE,), "ecr:DescribeImages", exc)
                    )
                    continue
                rest = _without_missing(batch, error_message(exc))
                if rest is not None:
                    pending.extend([rest] if rest else [])
                elif len(batch) > 1:
                    half = len(batch) // 2
                    pending.extend([batch[:half], batch[half:]])
                continue
            found.extend(response.get("imageDetails", []))
        return found


def _image_ids(refs: Iterable[ImageRef]) -> dict[str, list[dict[str, str]]]:
    by_repo: dict[str, set[ImageId]] = {}
    for ref in refs:
        by_repo.setdefault(ref.repository, set()).add(tuple(sorted(ref.image_id.items())))
    return {repo: [dict(i) for i in sorted(ids)] for repo, ids in sorted(by_repo.items())}


def _registry_scanning(
    ctx: UnitContext, client: Any, gaps: list[CollectionGap]
) -> dict[str, JSON] | None:
    try:
        return registry_scanning(client)
    except ScanReadError as exc:
        gaps.append(
            CollectionGap(
                account=ctx.account,
                region=ctx.region,
                service=Service.ECR,
                kinds=(Kind.ECR_REPOSITORY,),
                operation=exc.operation,
                error_code=exc.code,
                message=exc.message,
                resource_arn=f"arn:aws:ecr:{ctx.region}:{ctx.account}:registry",
            )
        )
        return None


def collect_ecr(ctx: UnitContext, images: ImageScanOptions | None = None) -> CollectResult:
    """ECR repositories of one (account, region) and the images `ctx.image_refs` resolve to."""
    client = ctx.client("ecr")
    now = ctx.clock.now()
    resources: list[Resource] = []
    gaps: list[CollectionGap] = []
    repo_arns: dict[str, str] | None = None
    try:
        repos = list(
            paginate(
                client,
                "describe_repositories",
                "repositories",
                PaginationConfig={"PageSize": PAGE_SIZE},
            )
        )
    except AWS_ERRORS as exc:
        gaps.append(gap(ctx, Service.ECR, (Kind.ECR_REPOSITORY,), "ecr:DescribeRepositories", exc))
    else:
        registry = _registry_scanning(ctx, client, gaps) if repos else None
        resources.extend(_repository_resource(ctx, r, now, registry) for r in repos)
        repo_arns = {str(r["repositoryName"]): str(r["repositoryArn"]) for r in repos}

    refs = [r for r in (parse_ref(x, ctx.account, ctx.region) for x in ctx.image_refs) if r]
    described = _Images(ctx, client)
    seen: set[tuple[str, str]] = set()
    in_use: list[InUse] = []
    for repository, ids in _image_ids(refs).items():
        if repo_arns is not None and repository not in repo_arns:
            continue  # the repository does not exist: neither does the image
        repo_arn = (repo_arns or {}).get(
            repository, f"arn:aws:ecr:{ctx.region}:{ctx.account}:repository/{repository}"
        )
        for batch in chunks(ids, DESCRIBE_IMAGES_BATCH):
            for detail in described.describe(repository, batch):
                digest = str(detail["imageDigest"])
                if (repository, digest) in seen:
                    continue
                seen.add((repository, digest))
                in_use.append(InUse(repository, repo_arn, detail))
    found, image_gaps = image_resources(ctx, client, in_use, images or ImageScanOptions(), now)
    resources.extend(found)
    return CollectResult(tuple(resources), tuple(gaps) + tuple(described.gaps) + tuple(image_gaps))


SPEC = CollectorSpec(
    collect_ecr,
    kinds=(Kind.ECR_REPOSITORY, Kind.ECR_IMAGE),
    iam_actions=frozenset(
        {
            "ecr:DescribeImages",
            "ecr:DescribeRepositories",
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
            "ecr:DescribeImageScanFindings",
            "ecr:GetRegistryScanningConfiguration",
        }
    ),
)

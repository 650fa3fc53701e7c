"""The `ecr.image` resources of images in use: DescribeImages details, plus what is inside
each image (`imageContent`, read once per digest, ever) and its scan state (`scan`).

A digest that the previous snapshot or the store's persistent cache (`image_content`
table, by digest and scan scope) already read is not read again: a warm cycle makes no
BatchGetImage call and downloads no blob, nor does an image back in use after a pause.
What could not be read is listed in the resource's `unavailable` with a resource gap (fail
closed: the rules are `unknown`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import structlog

from auditor.collect.base import DENIED_CODES, UnitContext, pick
from auditor.collect.ecr_blobs import BlobReader, ByteBudget, ImageScanOptions
from auditor.collect.ecr_image_content import (
    SCAN_VERSION,
    ContentReader,
    ContentResult,
    cache_scope,
    layers_still_valid,
)
from auditor.collect.ecr_scans import ScanReadError, image_scan
from auditor.model import JSON, CollectionGap, Kind, Resource, Service

log = structlog.get_logger(__name__)

READ_WORKERS = 8
_IMAGE_KEYS = (
    "repositoryName",
    "registryId",
    "imageDigest",
    "imageTags",
    "imagePushedAt",
    "imageSizeInBytes",
    "imageManifestMediaType",
)


@dataclass(frozen=True, slots=True)
class InUse:
    """One image in use, as DescribeImages returned it."""

    repository: str
    repository_arn: str
    detail: Mapping[str, Any]

    @property
    def digest(self) -> str:
        return str(self.detail["imageDigest"])

    @property
    def arn(self) -> str:
        return f"{self.repository_arn}@{self.digest}"


def _gap(ctx: UnitContext, arn: str, failure: tuple[str, str, str]) -> CollectionGap:
    operation, code, message = failure
    return CollectionGap(
        account=ctx.account,
        region=ctx.region,
        service=Service.ECR,
        kinds=(Kind.ECR_IMAGE,),
        operation=operation,
        error_code=code,
        message=message[:300],
        resource_arn=arn,
    )


def _cached(previous: JSON, options: ImageScanOptions) -> JSON | None:
    """An earlier read of the same digest, if it answers for the current options."""
    if not isinstance(previous, dict):
        return None
    layers = previous.get("layers")
    scanned = isinstance(layers, dict) and bool(layers.get("scanned"))
    if not options.layers:
        if not scanned:
            return previous
        secrets = [
            s
            for s in previous.get("secrets") or ()
            if str(s.get("location", "")).startswith(("config ", "history "))
        ]
        return {**previous, "secrets": secrets, "layers": {"scanned": False}}
    if isinstance(layers, dict) and layers_still_valid(layers, options.layer_max_bytes_per_image):
        return previous
    return None  # ContentReader keeps the config part and reads the layers


def _scans(
    ctx: UnitContext, client: Any, images: Sequence[InUse]
) -> tuple[dict[str, JSON], list[CollectionGap]]:
    out: dict[str, JSON] = {}
    gaps: list[CollectionGap] = []
    denied: tuple[str, str, str] | None = None
    for image in images:
        if denied is not None:
            gaps.append(_gap(ctx, image.arn, denied))
            continue
        previous = ctx.previous.image_scans.get(image.arn)
        if (
            not (image.detail.get("imageScanStatus") or {}).get("status")
            and isinstance(previous, dict)
            and previous.get("status") == "NONE"
        ):
            out[image.arn] = previous  # still no scan status: still never scanned
            continue
        try:
            out[image.arn] = image_scan(
                client,
                str(image.detail.get("registryId") or ctx.account),
                image.repository,
                image.detail,
                previous if isinstance(previous, dict) else None,
            )
        except ScanReadError as exc:
            failure = (exc.operation, exc.code, exc.message)
            gaps.append(_gap(ctx, image.arn, failure))
            if exc.code in DENIED_CODES:
                denied = failure
    return out, gaps


def _stored(ctx: UnitContext, digests: list[str]) -> dict[str, list[dict[str, JSON]]]:
    """The store's contents of these digests, of this scan version (a failing store is a
    cache miss: the image is read from the registry, never assumed clean)."""
    lookup = ctx.previous.image_lookup
    if lookup is None or not digests:
        return {}
    try:
        found = lookup(digests)
    except Exception as exc:  # the cache is an optimisation: reading again is always sound
        log.warning("image_cache_unavailable", error=type(exc).__name__)
        return {}
    prefix = f"v{SCAN_VERSION}/"
    return {
        digest: [c for scope, c in entries if scope.startswith(prefix) and isinstance(c, dict)]
        for digest, entries in found.items()
    }


def _reuse(candidates: Sequence[JSON]) -> dict[str, JSON] | None:
    """The earlier read to take the config part (and valid layers) from: one that scanned
    layers if any, else any."""
    found = [c for c in candidates if isinstance(c, dict)]
    for content in found:
        layers = content.get("layers")
        if isinstance(layers, dict) and layers.get("scanned"):
            return content
    return found[0] if found else None


def _contents(
    ctx: UnitContext,
    client: Any,
    images: Sequence[InUse],
    options: ImageScanOptions,
) -> tuple[dict[str, JSON], list[CollectionGap]]:
    """digest -> imageContent for every image in use (read only what is not known: the
    previous snapshot first, then the store's persistent cache)."""
    out: dict[str, JSON] = {}
    gaps: list[CollectionGap] = []
    digests = list(dict.fromkeys(i.digest for i in images))
    for digest in digests:
        known = _cached(ctx.previous.image_content.get(digest), options)
        if known is not None:
            out[digest] = known
    stored = _stored(ctx, [d for d in digests if d not in out])
    for digest, candidates in stored.items():
        for candidate in candidates:
            known = _cached(candidate, options)
            if known is not None:
                out[digest] = known
                break
    to_read: dict[str, list[InUse]] = {}  # repository -> images, one per digest
    for image in images:
        if image.digest in out:
            continue
        if not any(i.digest == image.digest for i in to_read.get(image.repository, ())):
            to_read.setdefault(image.repository, []).append(image)
    if not to_read:
        return out, gaps
    budget = options.budget or ByteBudget(options.layer_max_bytes_per_cycle)
    timeout = httpx.Timeout(options.timeout_seconds, connect=min(10.0, options.timeout_seconds))
    with httpx.Client(timeout=timeout, follow_redirects=False) as http:
        blobs = BlobReader(client, http, ctx.record)
        reader = ContentReader(client, blobs, options, budget)
        results: dict[str, tuple[InUse, ContentResult]] = {}
        denied: tuple[str, str, str] | None = None
        jobs: list[tuple[InUse, Any]] = []
        for repository, wanted in sorted(to_read.items()):
            registry = str(wanted[0].detail.get("registryId") or ctx.account)
            if denied is not None:
                results.update({i.digest: (i, ContentResult(None, denied)) for i in wanted})
                continue
            manifests = reader.manifests(registry, repository, [i.digest for i in wanted])
            for image in wanted:
                manifest = manifests[image.digest]
                if len(manifest) == 3 and manifest[1] in DENIED_CODES:
                    denied = manifest
                jobs.append((image, (registry, repository, image.digest, manifest)))

        def read(args: Any) -> ContentResult:
            registry, repository, digest, manifest = args
            earlier = [ctx.previous.image_content.get(digest), *stored.get(digest, ())]
            return reader.read(registry, repository, digest, manifest, _reuse(earlier))

        if jobs:
            with ThreadPoolExecutor(max_workers=min(READ_WORKERS, len(jobs))) as pool:
                futures = [
                    (image, pool.submit(contextvars.copy_context().run, read, args))
                    for image, args in jobs
                ]
                for image, future in futures:
                    results[image.digest] = (image, future.result())
        log.info(
            "ecr_image_content",
            account=ctx.account,
            region=ctx.region,
            images_read=len(results),
            blob_downloads=blobs.downloads,
            blob_bytes=blobs.bytes_read,
        )
    failures: dict[str, tuple[str, str, str]] = {}
    for digest, (_image, result) in sorted(results.items()):
        if result.content is not None:
            out[digest] = result.content
        else:
            failures[digest] = result.failure or ("ecr:BatchGetImage", "Unknown", "not read")
    gaps.extend(_gap(ctx, i.arn, failures[i.digest]) for i in images if i.digest in failures)
    return out, gaps


def image_resources(
    ctx: UnitContext,
    client: Any,
    images: Sequence[InUse],
    options: ImageScanOptions,
    now: datetime,
) -> tuple[list[Resource], list[CollectionGap]]:
    """The ecr.image resources of the images in use, with their content and scan state."""
    contents, content_gaps = _contents(ctx, client, images, options)
    scans, scan_gaps = _scans(ctx, client, images)
    resources: list[Resource] = []
    for image in images:
        attributes = pick(image.detail, _IMAGE_KEYS)
        unavailable: list[str] = []
        if image.digest in contents:
            attributes["imageContent"] = contents[image.digest]
        else:
            unavailable.append("imageContent")
        if image.arn in scans:
            attributes["scan"] = scans[image.arn]
        else:
            unavailable.append("scan")
        resources.append(
            Resource(
                kind=Kind.ECR_IMAGE,
                arn=image.arn,
                id=f"{image.repository}@{image.digest}",
                account=ctx.account,
                region=ctx.region,
                tags={},
                attributes=attributes,
                observed_at=now,
                unavailable=tuple(unavailable),
            )
        )
    return resources, content_gaps + scan_gaps


def cache_entries(resources: Iterable[Resource]) -> tuple[tuple[str, str, JSON], ...]:
    """(digest, scope, imageContent) of the ecr.image resources whose content can be kept
    forever (see `cache_scope`): what a cycle's commit adds to the store when absent."""
    entries: dict[tuple[str, str], JSON] = {}
    for r in resources:
        if r.kind is not Kind.ECR_IMAGE or "imageContent" in r.unavailable:
            continue
        content = r.attributes.get("imageContent")
        digest = str(r.attributes.get("imageDigest") or "")
        if not digest or not isinstance(content, dict):
            continue
        scope = cache_scope(content)
        if scope is not None:
            entries.setdefault((digest, scope), content)
    return tuple((d, s, c) for (d, s), c in sorted(entries.items()))

"""Checks on the images that task definitions in use run: secrets inside them, whether they
were scanned for vulnerabilities, and what the scan found.

A task definition's container image resolves to the `ecr.image` resources it runs: the
digest it pins, the image its tag points to now, and the digests its running tasks report
(a tag may have moved since they started). An image outside ECR cannot be read with the
audit role: it is `unknown` with the reason, unless its registry is in the rule's
`trusted_registries` param. Whatever could not be read is `unknown`, never a pass; a
failure anywhere in the task definition wins over an unknown elsewhere in it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.checks.ecr import ecr_reference
from auditor.checks.ecs import containers, image_tag
from auditor.checks.result import PASS, CheckResult, age_days, fail, parse_time, unknown, unreadable
from auditor.checks.secret_hits import Allowlist, secret_hits
from auditor.checks.spec import CheckSpec
from auditor.model import JSON, Clock, Kind, Resource, SnapshotView

SCANNED = frozenset({"COMPLETE", "ACTIVE"})
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED", "UNTRIAGED")
_RANK = {"CRITICAL": 5, "HIGH": 4, "MEDIUM": 3, "LOW": 2, "INFORMATIONAL": 1}
_CONTINUOUS = frozenset({"SCAN_ON_PUSH", "CONTINUOUS_SCAN"})

# (image resource, the view, the rule's params, the clock) -> ("fail"|"unknown", evidence)
# or None when the image passes
ImageVerdict = tuple[str, dict[str, JSON]] | None
ImageJudge = Callable[[Resource, SnapshotView, Mapping[str, Any], Clock], ImageVerdict]


@dataclass(frozen=True, slots=True)
class _Verdicts:
    failed: list[dict[str, JSON]]
    unknown: list[dict[str, JSON]]


def registry_of(image: str) -> str:
    """The registry host of an image reference ("nginx" and "library/x": docker.io)."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return "docker.io"


def _running_digests(view: SnapshotView) -> dict[tuple[str, str], set[str]]:
    """(task definition ARN, container name) -> the digests its running tasks run."""
    out: dict[tuple[str, str], set[str]] = {}
    for task in view.of_kind(Kind.ECS_TASK):
        arn = str(task.attributes.get("taskDefinitionArn") or "")
        for c in containers(task, "containers"):
            if c.get("imageDigest"):
                out.setdefault((arn, str(c.get("name"))), set()).add(str(c["imageDigest"]))
    return out


def _by_tag(view: SnapshotView) -> dict[tuple[str, str, str, str], Resource]:
    """(account, region, repository, tag) -> the ecr.image that tag points to."""
    out: dict[tuple[str, str, str, str], Resource] = {}
    for image in view.of_kind(Kind.ECR_IMAGE):
        name = str(image.attributes.get("repositoryName") or image.id.split("@", 1)[0])
        for tag in image.attributes.get("imageTags") or ():
            out[(image.account, image.region, name, str(tag))] = image
    return out


def _gap_of(view: SnapshotView, arn: str) -> dict[str, JSON] | None:
    for gap in view.snapshot.gaps:
        if gap.resource_arn == arn:
            return gap.to_json()
    return None


def _resolve(
    resource: Resource, container: Mapping[str, Any], view: SnapshotView
) -> tuple[list[Resource], dict[str, JSON] | None]:
    """The ecr.image resources one container runs, or why they are unknown."""
    image = str(container.get("image", ""))
    account, region, name, pinned = ecr_reference(image) or ("", "", "", None)
    cells = [(account, region), (resource.account, resource.region)]
    digests: set[str] = {pinned} if pinned else set()
    digests |= view.memo("ecr_images.running", _running_digests).get(
        (resource.arn, str(container.get("name"))), set()
    )
    found: dict[str, Resource] = {}
    if not pinned:
        tags = view.memo("ecr_images.by_tag", _by_tag)
        tag = image_tag(image) or "latest"
        for cell in cells:
            hit = tags.get((*cell, name, tag))
            if hit is not None:
                found[hit.arn] = hit
                break
    for digest in sorted(digests):
        hit = None
        for cell in cells:
            hit = view.find(Kind.ECR_IMAGE, *cell, f"{name}@{digest}")
            if hit is not None:
                break
        if hit is None:
            return [], _unresolved(view, image, account, region, f"{name}@{digest}")
        found[hit.arn] = hit
    if not found:
        return [], _unresolved(view, image, account, region, image)
    return list(found.values()), None


def _unresolved(
    view: SnapshotView, image: str, account: str, region: str, what: str
) -> dict[str, JSON]:
    evidence: dict[str, JSON] = {"image": image}
    gap = view.gap_for(Kind.ECR_IMAGE, account, region)
    if gap is not None:
        evidence["gap"] = gap.to_json()
        evidence["reason"] = f"ECR images of {account}/{region} could not be listed"
    else:
        evidence["reason"] = f"image {what} was not collected (not in ECR, or ECR not audited)"
    return evidence


def _judge_containers(
    resource: Resource,
    params: Mapping[str, Any],
    view: SnapshotView,
    clock: Clock,
    judge: ImageJudge,
) -> _Verdicts | CheckResult:
    if (blocked := unreadable(resource, "containerDefinitions")) is not None:
        return blocked
    if not isinstance(resource.attributes.get("containerDefinitions"), list):
        return unknown("the task definition has no containerDefinitions")
    trusted = [str(p) for p in params.get("trusted_registries") or ()]
    verdicts = _Verdicts([], [])
    judged: dict[str, ImageVerdict] = {}
    for container in containers(resource):
        image = str(container.get("image", ""))
        where: dict[str, JSON] = {"container": container.get("name"), "image": image}
        if ecr_reference(image) is None:
            registry = registry_of(image)
            if not any(fnmatch.fnmatchcase(registry, t) for t in trusted):
                reason = f"registry {registry} is not ECR: the audit role cannot read the image"
                verdicts.unknown.append({**where, "registry": registry, "reason": reason})
            continue
        images, why = _resolve(resource, container, view)
        if why is not None:
            verdicts.unknown.append({**where, **why})
        for found in images:
            if found.arn not in judged:
                judged[found.arn] = judge(found, view, params, clock)
            verdict = judged[found.arn]
            if verdict is None:
                continue
            outcome, evidence = verdict
            entry = {**where, "imageDigest": found.attributes.get("imageDigest"), **evidence}
            (verdicts.failed if outcome == "fail" else verdicts.unknown).append(entry)
    return verdicts


def _result(
    verdicts: _Verdicts | CheckResult, what: str, evidence: dict[str, JSON] | None = None
) -> CheckResult:
    if isinstance(verdicts, CheckResult):
        return verdicts
    extra = evidence or {}
    if verdicts.failed:
        names = sorted({str(f["image"]) for f in verdicts.failed})
        return fail(
            f"{what}: {', '.join(names)}",
            {**extra, "images": verdicts.failed, "unknown": verdicts.unknown},
        )
    if verdicts.unknown:
        first = verdicts.unknown[0]
        more = f" (and {len(verdicts.unknown) - 1} more)" if len(verdicts.unknown) > 1 else ""
        return unknown(
            f"{first.get('image')}: {first.get('reason')}{more}", {"images": verdicts.unknown}
        )
    return PASS


def _unavailable(image: Resource, key: str, view: SnapshotView, what: str) -> ImageVerdict:
    if key in image.unavailable:
        evidence: dict[str, JSON] = {"reason": f"{what} of {image.id} could not be read"}
        gap = _gap_of(view, image.arn)
        if gap is not None:
            evidence["gap"] = gap
        return "unknown", evidence
    return None


def _image_secrets(
    image: Resource, view: SnapshotView, params: Mapping[str, Any], clock: Clock
) -> ImageVerdict:
    blocked = _unavailable(image, "imageContent", view, "the image config")
    if blocked is not None:
        return blocked
    content = image.attributes.get("imageContent")
    if not isinstance(content, Mapping):
        return "unknown", {"reason": f"the content of {image.id} was not collected"}
    hits = secret_hits(content, "", Allowlist(params, clock)) or []
    if hits:
        return "fail", {"secrets": hits}
    layers = content.get("layers") or {}
    if isinstance(layers, Mapping) and layers.get("scanned") and not layers.get("complete"):
        why = layers.get("incomplete_reason")
        return "unknown", {
            "reason": f"the layer scan of {image.id} stopped early ({why}): raise "
            "collect.images.layers.max_bytes_per_image / max_bytes_per_cycle",
            "layers": dict(layers),
        }
    return None


def ecr_image_secrets(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    verdicts = _judge_containers(resource, params, view, clock, _image_secrets)
    if isinstance(verdicts, CheckResult):
        return verdicts
    flat: list[JSON] = [
        {
            "location": f"container {f['container']} image {f['imageDigest']} {s['location']}",
            "detector": s["detector"],
            "hash": s["hash"],
        }
        for f in verdicts.failed
        for s in f.get("secrets") or ()
    ]
    return _result(verdicts, "secret(s) inside image(s) in use", {"secrets": flat})


def _image_not_scanned(
    image: Resource, view: SnapshotView, params: Mapping[str, Any], clock: Clock
) -> ImageVerdict:
    blocked = _unavailable(image, "scan", view, "the scan status")
    if blocked is not None:
        return blocked
    scan = image.attributes.get("scan")
    status = str(scan.get("status")) if isinstance(scan, Mapping) else "unknown"
    problems: list[str] = []
    if status not in SCANNED:
        problems.append(f"no completed scan (status {status})")
    name = str(image.attributes.get("repositoryName") or image.id.split("@", 1)[0])
    repository = view.find(Kind.ECR_REPOSITORY, image.account, image.region, name)
    if repository is None:
        return "unknown", {"reason": f"repository {name} was not collected"}
    if "registryScanning" in repository.unavailable:
        return "unknown", {"reason": "the registry scanning configuration could not be read"}
    on_push = (repository.attributes.get("imageScanningConfiguration") or {}).get("scanOnPush")
    frequency = (repository.attributes.get("registryScanning") or {}).get("frequency")
    if not on_push and frequency not in _CONTINUOUS:
        problems.append(f"repository {name} has no scan on push and no registry scanning rule")
    if not problems:
        return None
    return "fail", {"scanStatus": status, "problems": problems}


def ecr_image_not_scanned(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    verdicts = _judge_containers(resource, params, view, clock, _image_not_scanned)
    return _result(verdicts, "image(s) in use not scanned for vulnerabilities")


def _image_vulnerabilities(
    image: Resource, view: SnapshotView, params: Mapping[str, Any], clock: Clock
) -> ImageVerdict:
    blocked = _unavailable(image, "scan", view, "the scan findings")
    if blocked is not None:
        return blocked
    scan = image.attributes.get("scan")
    if not isinstance(scan, Mapping) or str(scan.get("status")) not in SCANNED:
        status = scan.get("status") if isinstance(scan, Mapping) else None
        return "unknown", {"reason": f"{image.id} has no completed scan (status {status})"}
    threshold = _RANK[str(params["severity"])]
    counts = scan.get("counts") or {}
    oldest_by = scan.get("oldest") or {}
    at_least = {s: int(n) for s, n in counts.items() if _RANK.get(str(s), 0) >= threshold}
    if not sum(at_least.values()):
        return None
    now = clock.now()
    times = [parse_time(oldest_by.get(s)) for s in at_least]
    known = [t for t in times if t is not None]
    oldest = min(known) if known else None
    age = age_days(oldest, now) if oldest is not None else None
    grace = int(params["max_age_days"])
    if grace and age is not None and age < grace:
        return None
    return "fail", {
        "counts": dict(sorted(counts.items())),
        "at_or_above_threshold": sum(at_least.values()),
        "oldest_finding_age_days": age,
        "scanCompletedAt": scan.get("completedAt"),
    }


def ecr_image_vulnerabilities(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    verdicts = _judge_containers(resource, params, view, clock, _image_vulnerabilities)
    return _result(
        verdicts,
        f"image(s) in use with {params['severity']} or worse vulnerabilities",
        {"severity": params["severity"], "max_age_days": params["max_age_days"]},
    )


CHECKS: Mapping[str, CheckSpec] = {
    "ecr_image_secrets": CheckSpec(ecr_image_secrets, finds_secrets=True),
    "ecr_image_not_scanned": CheckSpec(ecr_image_not_scanned),
    "ecr_image_vulnerabilities": CheckSpec(ecr_image_vulnerabilities),
}

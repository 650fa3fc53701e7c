"""Vulnerability scan state of ECR images in use, and the scanning each repository gets.

DescribeImages already carries an image's scan status and its counts by severity
(`imageScanFindingsSummary`); DescribeImageScanFindings is called only when that summary
is absent (to tell "never scanned" from a failed scan) or when there are findings whose
ages are not yet known for this scan (an earlier cycle's ages are reused while the scan's
completion and vulnerability-source times are unchanged). Enhanced (Amazon Inspector)
findings carry `firstObservedAt`; basic findings carry no time, so their age is the scan's
completion time. GetRegistryScanningConfiguration is read once per (account, region).
`vulnerabilitySourceUpdatedAt` is not kept: it moves whenever the vulnerability database is
updated, and would make every image a new configuration in the store for no finding.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from auditor.aws import error_code, error_message
from auditor.collect.base import AWS_ERRORS, jsonable
from auditor.model import JSON, iso

SCANNED_STATUSES = frozenset({"COMPLETE", "ACTIVE"})
FINDINGS_PAGE = 1000  # DescribeImageScanFindings maxResults (the API maximum)
MAX_FINDING_PAGES = 20
_FREQUENCY_RANK = {"MANUAL": 0, "SCAN_ON_PUSH": 1, "CONTINUOUS_SCAN": 2}
_NO_SCAN = frozenset({"ScanNotFoundException"})


class ScanReadError(Exception):
    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation}: {code}")
        self.operation = operation
        self.code = code
        self.message = message


def _when(value: Any) -> str | None:
    if isinstance(value, datetime):
        return iso(value)
    return str(value) if value else None


def _counts(summary: Mapping[str, Any]) -> dict[str, int]:
    counts = summary.get("findingSeverityCounts") or {}
    return {str(k): int(v) for k, v in sorted(counts.items()) if int(v) > 0}


def _scan_key(scan: Mapping[str, JSON]) -> tuple[JSON, ...]:
    return (
        scan.get("status"),
        scan.get("completedAt"),
        canonical_counts(scan.get("counts")),
    )


def canonical_counts(counts: JSON) -> tuple[tuple[str, int], ...]:
    if not isinstance(counts, Mapping):
        return ()
    return tuple(sorted((str(k), int(v)) for k, v in counts.items()))


def image_scan(
    client: Any,
    registry: str,
    repository: str,
    detail: Mapping[str, Any],
    previous: Mapping[str, JSON] | None,
) -> dict[str, JSON]:
    """The `scan` attribute of one image; raises ScanReadError when it cannot be read."""
    status = (detail.get("imageScanStatus") or {}).get("status")
    summary = detail.get("imageScanFindingsSummary") or {}
    if not status:
        return _describe(client, registry, repository, str(detail["imageDigest"]))
    scan: dict[str, JSON] = {
        "status": str(status),
        "completedAt": _when(summary.get("imageScanCompletedAt")),
        "counts": _counts(summary),
        "oldest": {},
        "truncated": False,
    }
    if not scan["counts"]:
        return scan
    if previous is not None and _scan_key(previous) == _scan_key(scan):
        return {
            **scan,
            "oldest": previous.get("oldest") or {},
            "truncated": previous.get("truncated"),
        }
    # DescribeImages gives status and counts; the findings give their ages
    found = _describe(client, registry, repository, str(detail["imageDigest"]))
    return {**scan, "oldest": found.get("oldest") or {}, "truncated": found.get("truncated")}


def _describe(client: Any, registry: str, repository: str, digest: str) -> dict[str, JSON]:
    oldest: dict[str, str] = {}
    scan: dict[str, JSON] = {}
    token: str | None = None
    for _page in range(MAX_FINDING_PAGES):
        kwargs: dict[str, Any] = {
            "registryId": registry,
            "repositoryName": repository,
            "imageId": {"imageDigest": digest},
            "maxResults": FINDINGS_PAGE,
        }
        if token:
            kwargs["nextToken"] = token
        try:
            response = client.describe_image_scan_findings(**kwargs)
        except AWS_ERRORS as exc:
            if error_code(exc) in _NO_SCAN:
                return {"status": "NONE", "counts": {}, "oldest": {}, "truncated": False}
            raise ScanReadError(
                "ecr:DescribeImageScanFindings", error_code(exc), error_message(exc)
            ) from None
        findings = response.get("imageScanFindings") or {}
        if not scan:
            scan = {
                "status": str((response.get("imageScanStatus") or {}).get("status") or "NONE"),
                "completedAt": _when(findings.get("imageScanCompletedAt")),
                "counts": _counts(findings),
            }
        completed = scan.get("completedAt")
        for finding in findings.get("findings") or ():  # basic: no time of its own
            severity = str(finding.get("severity") or "UNDEFINED")
            if isinstance(completed, str):
                _older(oldest, severity, completed)
        for finding in findings.get("enhancedFindings") or ():
            severity = str(finding.get("severity") or "UNTRIAGED")
            seen = _when(finding.get("firstObservedAt")) or completed
            if isinstance(seen, str):
                _older(oldest, severity, seen)
        token = response.get("nextToken")
        if not token:
            break
    scan["oldest"] = dict(sorted(oldest.items()))
    scan["truncated"] = bool(token)
    return scan


def _older(oldest: dict[str, str], severity: str, when: str) -> None:
    current = oldest.get(severity)
    if current is None or when < current:
        oldest[severity] = when


def registry_scanning(client: Any) -> dict[str, JSON]:
    """The registry's scanning configuration (scan type and rules); raises ScanReadError."""
    try:
        response = client.get_registry_scanning_configuration()
    except AWS_ERRORS as exc:
        raise ScanReadError(
            "ecr:GetRegistryScanningConfiguration", error_code(exc), error_message(exc)
        ) from None
    config = response.get("scanningConfiguration") or {}
    return {
        "scanType": str(config.get("scanType") or "BASIC"),
        "rules": jsonable(config.get("rules") or []),
    }


def repository_scanning(registry: Mapping[str, JSON], repository: str) -> dict[str, JSON]:
    """The strongest registry rule that applies to one repository: its scan frequency."""
    best: str | None = None
    for rule in registry.get("rules") or ():
        if not isinstance(rule, Mapping):
            continue
        frequency = str(rule.get("scanFrequency") or "")
        if frequency not in _FREQUENCY_RANK:
            continue
        filters = [f for f in rule.get("repositoryFilters") or () if isinstance(f, Mapping)]
        if not any(fnmatch.fnmatchcase(repository, str(f.get("filter") or "")) for f in filters):
            continue
        if best is None or _FREQUENCY_RANK[frequency] > _FREQUENCY_RANK[best]:
            best = frequency
    return {"scanType": registry.get("scanType"), "frequency": best}

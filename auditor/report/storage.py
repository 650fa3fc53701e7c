"""Where bundles live: a local directory (default) and, optionally, S3 with Object Lock.

S3 uploads use Object Lock in COMPLIANCE mode, so nobody (including this tool's operators
and the root user) can alter or delete a report before its retention ends. manifest.sig is
uploaded LAST: a listing only shows bundles whose signature exists, so an interrupted upload
never looks complete. The bucket must have Object Lock enabled (it can only be turned on
at bucket creation); we check, and refuse otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.model import Clock, parse_iso, sha256_hex
from auditor.report.bundle import TMP_PREFIX, bundle_dirs
from auditor.report.errors import StorageError
from auditor.report.formats import FORMATS
from auditor.report.input import TrendPoint
from auditor.report.manifest import MANIFEST, SIGNATURE, ChainLink, parse_manifest

CONTENT_TYPES = {
    **{fmt.file: fmt.content_type for fmt in FORMATS.values()},
    MANIFEST: "application/json",
    SIGNATURE: "application/octet-stream",
}


def check_report_dir(directory: Path) -> None:
    """`reports.dir` is a writable directory, or can be created as one. Checked before a
    cycle commits anything, so a bad path is a config error (exit 2), not a half-done cycle."""
    probe = directory
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe == directory and not probe.is_dir():
        raise StorageError(f"reports.dir: {directory} exists and is not a directory")
    if not probe.is_dir():
        raise StorageError(f"reports.dir: cannot create {directory}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise StorageError(f"reports.dir: {probe} is not writable")


@dataclass(frozen=True, slots=True)
class BundleSummary:
    report_id: str
    generated_at: str | None
    sequence: int | None
    findings: int | None
    failed: int | None
    unknown: int | None
    score: float | None
    coverage_complete: bool | None
    complete: bool  # has a signature
    location: str


def _summary(report_id: str, manifest: bytes | None, complete: bool, where: str) -> BundleSummary:
    m: dict[str, Any] = {}
    if manifest is not None:
        try:
            m = parse_manifest(manifest)
        except ValueError:
            m = {}
    s = m.get("summary") or {}
    return BundleSummary(
        report_id=report_id,
        generated_at=m.get("generated_at"),
        sequence=m.get("sequence"),
        findings=s.get("findings"),
        failed=s.get("failed"),
        unknown=s.get("unknown"),
        score=s.get("score"),
        coverage_complete=s.get("coverage_complete"),
        complete=complete,
        location=where,
    )


class LocalReportStore:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def list(self) -> list[BundleSummary]:
        out: list[BundleSummary] = []
        for path in bundle_dirs(self.directory):
            raw = (path / MANIFEST).read_bytes() if (path / MANIFEST).is_file() else None
            out.append(_summary(path.name, raw, (path / SIGNATURE).is_file(), str(path)))
        return out

    def get(self, report_id: str) -> Path:
        path = self.directory / report_id
        if report_id.startswith(".") or "/" in report_id or not path.is_dir():
            raise StorageError(f"no report {report_id!r} in {self.directory}")
        return path


class S3ReportStore:
    """Bundles under s3://bucket/prefix/<report id>/<file>."""

    def __init__(
        self, client: Any, bucket: str, prefix: str, object_lock_days: int, clock: Clock
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.object_lock_days = object_lock_days
        self.clock = clock

    def _key(self, report_id: str, name: str) -> str:
        return f"{self.prefix}{report_id}/{name}"

    def check_object_lock(self) -> None:
        import botocore.exceptions

        try:
            cfg = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            raise StorageError(
                f"s3://{self.bucket}: Object Lock is not enabled ({code}); reports.s3."
                "object_lock_days needs a bucket created with Object Lock"
            ) from None
        state = cfg.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        if state != "Enabled":
            raise StorageError(f"s3://{self.bucket}: Object Lock expected Enabled, found {state}")

    def retain_until(self) -> datetime:
        return self.clock.now() + timedelta(days=self.object_lock_days)

    def upload(self, bundle: Path) -> str:
        """Upload one verified-complete bundle; the signature goes last. Returns its s3:// URL."""
        report_id = bundle.name
        if not (bundle / SIGNATURE).is_file():
            raise StorageError(f"{bundle}: not a complete bundle (no {SIGNATURE})")
        lock: dict[str, Any] = {}
        if self.object_lock_days > 0:
            self.check_object_lock()
            lock = {
                "ObjectLockMode": "COMPLIANCE",
                "ObjectLockRetainUntilDate": self.retain_until(),
            }
        names = sorted(p.name for p in bundle.iterdir() if p.is_file() and p.name != SIGNATURE)
        for name in [*names, SIGNATURE]:
            body = (bundle / name).read_bytes()
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(report_id, name),
                Body=body,
                ContentType=CONTENT_TYPES.get(name, "application/octet-stream"),
                ContentMD5=base64.b64encode(hashlib.md5(body).digest()).decode(),  # noqa: S324 - S3 integrity header, required with Object Lock
                Metadata={"sha256": sha256_hex(body)},
                **lock,
            )
        return f"s3://{self.bucket}/{self._key(report_id, '')}"

    def _report_ids(self) -> list[str]:
        ids: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"):
            for cp in page.get("CommonPrefixes", []):
                name = cp["Prefix"][len(self.prefix) :].rstrip("/")
                if name and not name.startswith((".", TMP_PREFIX)):
                    ids.append(name)
        return sorted(ids)

    def _read(self, key: str) -> bytes | None:
        import botocore.exceptions

        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def list(self) -> list[BundleSummary]:
        out: list[BundleSummary] = []
        for rid in self._report_ids():
            complete = self._read(self._key(rid, SIGNATURE)) is not None
            manifest = self._read(self._key(rid, MANIFEST))
            where = f"s3://{self.bucket}/{self._key(rid, '')}"
            out.append(_summary(rid, manifest, complete, where))
        return sorted(out, key=lambda b: (b.sequence is None, b.sequence or 0, b.report_id))

    def latest_link(self) -> ChainLink | None:
        """The complete bundle in S3 with the highest sequence (never the last id by name:
        two bundles of one second differ only by their random suffix). Reads every manifest:
        it is only needed to continue a chain the store's ledger does not know yet."""
        best: ChainLink | None = None
        for rid in self._report_ids():
            if self._read(self._key(rid, SIGNATURE)) is None:
                continue
            raw = self._read(self._key(rid, MANIFEST))
            if raw is None:
                continue
            m = parse_manifest(raw)
            link = ChainLink(rid, sha256_hex(raw), int(m["sequence"]), str(m["generated_at"]))
            if best is None or link.sequence > best.sequence:
                best = link
        return best

    def get(self, report_id: str, dest: Path) -> Path:
        """Download a bundle into dest/<report id>/ (then `auditor verify` it locally)."""
        if "/" in report_id or report_id.startswith("."):
            raise StorageError(f"invalid report id {report_id!r}")
        raw = self._read(self._key(report_id, MANIFEST))
        if raw is None:
            raise StorageError(f"no report {report_id!r} in s3://{self.bucket}/{self.prefix}")
        target = dest / report_id
        target.mkdir(parents=True, exist_ok=True)
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(report_id, "")):
            for obj in page.get("Contents", []):
                name = obj["Key"].rsplit("/", 1)[-1]
                body = self._read(obj["Key"])
                if body is not None and name:
                    (target / name).write_bytes(body)
        return target


def trend_from_dir(directory: Path, limit: int = 30) -> tuple[TrendPoint, ...]:
    """Headline numbers of the last `limit` signed bundles, read from their small manifests."""
    points: list[TrendPoint] = []
    for path in reversed(bundle_dirs(Path(directory))):
        if len(points) >= limit:
            break
        if not (path / SIGNATURE).is_file():
            continue
        try:
            m = parse_manifest((path / MANIFEST).read_bytes())
            s = m["summary"]
            points.append(
                TrendPoint(parse_iso(str(m["generated_at"])), s.get("score"), int(s["failed"]))
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue  # an unreadable bundle is `auditor verify`'s business, not the chart's
    return tuple(reversed(points))

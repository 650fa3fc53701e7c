"""Write a signed report bundle atomically, linked to the previous one.

The bundle is assembled in a hidden temporary directory next to the target and renamed into
place last, after manifest.sig: a crash leaves at most a `.tmp-*` directory, never a bundle
that looks complete. A lock file serialises writers, so two cycles cannot fork the chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditor.model import JSON, iso, parse_iso, sha256_hex
from auditor.report.document import build_report
from auditor.report.errors import ReportError
from auditor.report.manifest import (
    FORMAT_FILES,
    MANIFEST,
    MANIFEST_SCHEMA,
    SIGNATURE,
    ChainLink,
    link_of,
    manifest_bytes,
)
from auditor.report.model import BundleInfo, ReportInput
from auditor.report.signing import Signer
from auditor.report.state import STATE_FIELD, state_sha256

ALL_FORMATS = ("json", "html", "csv", "ocsf")
LOCK_FILE = ".auditor-chain.lock"
TMP_PREFIX = ".tmp-"


def new_report_id(generated_at: datetime, token: str | None = None) -> str:
    """`20261122T120000Z-1a2b3c4d`: sorts by time as a plain string."""
    stamp = generated_at.astimezone(UTC)
    return f"{stamp:%Y%m%dT%H%M%SZ}-{token or uuid.uuid4().hex[:8]}"


def bundle_dirs(out_dir: Path) -> list[Path]:
    """Every bundle directory (complete or not) in report-id order; temp dirs excluded."""
    if not out_dir.is_dir():
        return []
    return sorted(
        (p for p in out_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def latest_link(out_dir: Path) -> ChainLink | None:
    """The newest complete bundle (with a signature) in out_dir: the next one's predecessor."""
    for path in reversed(bundle_dirs(out_dir)):
        if (path / SIGNATURE).is_file() and (path / MANIFEST).is_file():
            try:
                return link_of(path)
            except (ValueError, OSError, KeyError, TypeError) as exc:
                raise ReportError(
                    f"{path}: the latest bundle's manifest is unreadable ({exc}); refusing to "
                    "start a new chain over it: run `auditor verify` on the directory"
                ) from None
    return None


def write_bundle(
    data: ReportInput,
    out_dir: Path,
    signer: Signer,
    formats: Sequence[str] = ALL_FORMATS,
    report_id: str | None = None,
    previous: ChainLink | str | None = "auto",
) -> BundleInfo:
    """Render, hash, sign and publish one bundle under `out_dir/<report id>/`.

    `previous="auto"` links to the newest bundle already in out_dir; pass a ChainLink when the
    chain lives elsewhere (S3), or None to start a new chain.
    """
    unknown = [f for f in formats if f not in FORMAT_FILES]
    if unknown:
        raise ReportError(f"unknown report format(s) {unknown}; choose from {list(FORMAT_FILES)}")
    chosen = ["json", *[f for f in ALL_FORMATS if f in formats and f != "json"]]
    out_dir.mkdir(parents=True, exist_ok=True)
    rid = report_id or new_report_id(data.generated_at)
    with chain_lock(out_dir):
        link = latest_link(out_dir) if previous == "auto" else previous
        assert not isinstance(link, str)
        if link is not None and parse_iso(link.generated_at) > data.generated_at:
            raise ReportError(
                f"report generated at {iso(data.generated_at)} is older than the latest bundle "
                f"{link.report_id} ({link.generated_at}); the chain only moves forward"
            )
        target = out_dir / rid
        if target.exists():
            raise ReportError(f"{target}: a bundle with this report id already exists")
        tmp = out_dir / f"{TMP_PREFIX}{rid}-{uuid.uuid4().hex[:6]}"
        tmp.mkdir()
        try:
            info = _assemble(data, tmp, signer, chosen, rid, link)
            os.rename(tmp, target)
            fsync_dir(out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return BundleInfo(**{**info, "path": target})


def _assemble(
    data: ReportInput,
    tmp: Path,
    signer: Signer,
    formats: list[str],
    rid: str,
    link: ChainLink | None,
) -> dict[str, Any]:
    from auditor.report.csv_export import csv_chunks
    from auditor.report.html import html_chunks
    from auditor.report.ocsf import ocsf_chunks

    report = build_report(data, rid)
    public_pem = signer.public_key_pem()
    signing = {"key_id": signer.key_id, "algorithm": signer.algorithm}
    files: list[dict[str, JSON]] = []
    for fmt in formats:
        chunks: Iterable[str]
        if fmt == "json":
            chunks = json_chunks(report)
        elif fmt == "html":
            chunks = html_chunks(report, signing)
        elif fmt == "csv":
            chunks = csv_chunks(report)
        else:
            chunks = ocsf_chunks(report)
        name = FORMAT_FILES[fmt]
        digest, size = _write_chunks(tmp / name, chunks)
        files.append({"name": name, "sha256": digest, "size": size})
    summary = report["summary"]
    manifest: dict[str, JSON] = {
        "schema": MANIFEST_SCHEMA,
        "report_id": rid,
        "generated_at": report["generated_at"],
        "snapshot_id": data.snapshot.id,
        "rules_version": data.rules_version,
        "tool_version": data.tool_version,
        "sequence": (link.sequence + 1) if link else 1,
        "previous_report_id": link.report_id if link else None,
        "previous_manifest_sha256": link.manifest_sha256 if link else None,
        "files": sorted(files, key=lambda f: str(f["name"])),
        "summary": {
            "findings": summary["findings"],
            "failed": summary["failed"],
            "unknown": summary["unknown"],
            "exempt": summary["exempt"],
            "score": summary["score"],
            "coverage_complete": report["coverage"]["complete"],
        },
        "key_id": signer.key_id,
        "algorithm": signer.algorithm,
        "public_key_pem": public_pem.decode("ascii"),
        STATE_FIELD: state_sha256(data),
    }
    raw = manifest_bytes(manifest)
    write_file(tmp / MANIFEST, raw)
    write_file(tmp / SIGNATURE, signer.sign(raw))  # last: no signature, no complete bundle
    return {
        "report_id": rid,
        "generated_at": data.generated_at,
        "manifest_sha256": sha256_hex(raw),
        "previous_manifest_sha256": link.manifest_sha256 if link else None,
        "sequence": manifest["sequence"],
        "files": (*(str(f["name"]) for f in files), MANIFEST, SIGNATURE),
        "key_id": signer.key_id,
        "algorithm": signer.algorithm,
    }


def json_chunks(report: dict[str, JSON]) -> Iterator[str]:
    """report.json: readable top level, one finding per line (fast C encoder, small memory)."""
    head = {k: v for k, v in report.items() if k != "findings"}
    text = json.dumps(head, indent=1, ensure_ascii=False)
    yield text[:-2] + ',\n "findings": ['
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    findings: list[JSON] = report["findings"]
    for i, f in enumerate(findings):
        yield ("\n  " if i == 0 else ",\n  ") + encode(f)
    yield "\n ]\n}\n"


def _write_chunks(path: Path, chunks: Iterable[str]) -> tuple[str, int]:
    """Write, hash and fsync in one pass; returns (sha256 hex, size)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "wb", buffering=1 << 20) as fh:
        for chunk in chunks:
            data = chunk.encode("utf-8")
            digest.update(data)
            size += len(data)
            fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return digest.hexdigest(), size


def write_file(path: Path, body: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def chain_lock(out_dir: Path) -> Iterator[None]:
    with open(out_dir / LOCK_FILE, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

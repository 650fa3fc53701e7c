"""Write a signed report bundle atomically, linked to the previous one.

The bundle is assembled in a hidden temporary directory next to the target and renamed into
place last, after manifest.sig: a crash leaves at most a `.tmp-*` directory, never a bundle
that looks complete; the next writer removes such leftovers (every writer holds the
directory's lock file while its temporary directory exists, so any other one is stale).

Bundles are ordered by their manifest's `sequence`, never by report id text (two bundles of
the same second differ only by a random suffix). With a store, the chain's predecessor comes
from the store's ledger (report/chain.py); `previous="auto"` takes the highest sequence in
the directory.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from auditor.model import JSON, iso, parse_iso, sha256_hex
from auditor.report.disk import CheckedDisk, LocalDisk, os_error_line
from auditor.report.document import report_document
from auditor.report.errors import ReportError, ReportWriteError
from auditor.report.formats import FORMATS, chosen
from auditor.report.input import ReportInput
from auditor.report.manifest import (
    MANIFEST,
    MANIFEST_SCHEMA,
    SIGNATURE,
    ChainLink,
    link_of,
    manifest_bytes,
)
from auditor.report.signing import Signer
from auditor.report.state import STATE_FIELD, state_sha256

log = structlog.get_logger("auditor.report")


@dataclass(frozen=True, slots=True)
class BundleInfo:
    """A written bundle: where it is and what identifies it in the chain."""

    report_id: str
    path: Path
    generated_at: datetime
    manifest_sha256: str
    previous_manifest_sha256: str | None
    sequence: int
    files: tuple[str, ...]
    key_id: str
    algorithm: str


LOCK_FILE = ".auditor-chain.lock"
TMP_PREFIX = ".tmp-"


def new_report_id(generated_at: datetime, token: str | None = None) -> str:
    """`20261122T120000Z-1a2b3c4d`: sorts by time as a plain string."""
    stamp = generated_at.astimezone(UTC)
    return f"{stamp:%Y%m%dT%H%M%SZ}-{token or uuid.uuid4().hex[:8]}"


def bundle_dirs(out_dir: Path) -> list[Path]:
    """Every bundle directory (complete or not) in chain order; temp dirs excluded.

    Chain order is the manifest's sequence; bundles without a readable manifest come last,
    by name (verification reports them).
    """
    if not out_dir.is_dir():
        return []
    found = [p for p in out_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    keyed = [(sequence_of(p), p.name, p) for p in found]
    return [p for seq, _, p in sorted(keyed, key=lambda k: (k[0] is None, k[0] or 0, k[1]))]


def sequence_of(bundle: Path) -> int | None:
    """The bundle's chain sequence from its manifest, or None when it has no readable one."""
    try:
        value = json.loads((bundle / MANIFEST).read_bytes()).get("sequence")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def latest_link(out_dir: Path) -> ChainLink | None:
    """The complete bundle (with a signature) with the highest sequence in out_dir."""
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


def clean_stale_tmp(out_dir: Path) -> list[str]:
    """Remove `.tmp-*` leftovers of interrupted writers (call with the directory lock held)."""
    removed: list[str] = []
    for path in out_dir.glob(f"{TMP_PREFIX}*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    if removed:
        log.warning("stale_temp_removed", directory=str(out_dir), removed=sorted(removed))
    return removed


def write_bundle(
    data: ReportInput,
    out_dir: Path,
    signer: Signer,
    formats: Sequence[str] = tuple(FORMATS),
    report_id: str | None = None,
    previous: ChainLink | str | None = "auto",
    *,
    missing: Sequence[Mapping[str, JSON]] = (),
    repaired: Mapping[str, JSON] | None = None,
    disk: LocalDisk | None = None,
    fence: Callable[[], None] | None = None,
    state: str | None = None,
) -> BundleInfo:
    """Render, hash, sign and publish one bundle under `out_dir/<report id>/`.

    `previous="auto"` links to the highest-sequence bundle already in out_dir; pass a
    ChainLink when the chain lives elsewhere (the store's ledger, S3), or None to start a new
    chain. `missing` declares reports that will never be published (cycle, report id,
    reason); `repaired` marks a report published late for its cycle; `fence` is called
    right before the bundle is renamed into place (raises when the chain lock was lost);
    `state` is `state_sha256(data)` when the caller has it already. A file-system failure
    (disk full, reports.dir not a directory) raises ReportWriteError and leaves nothing.
    """
    try:
        names = chosen(formats)
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    with chain_head(out_dir, previous) as link:
        rid = report_id or new_report_id(data.generated_at)
        if link is not None and parse_iso(link.generated_at) > data.generated_at:
            log.warning(
                "chain_head_in_future",
                previous=link.report_id,
                previous_generated_at=link.generated_at,
                generated_at=iso(data.generated_at),
                detail="the previous report is dated after this one (clock jump?); the chain "
                "follows its sequence",
            )
        extra: dict[str, JSON] = {}
        if missing:
            extra["missing_reports"] = [dict(m) for m in missing]
        if repaired is not None:
            extra["repaired"] = dict(repaired)
        return write_link(
            out_dir,
            rid,
            lambda tmp, checked: _assemble(
                data, tmp, signer, names, rid, link, checked, extra, state or state_sha256(data)
            ),
            disk=disk,
            fence=fence,
        )


@contextmanager
def chain_head(out_dir: Path, previous: ChainLink | str | None) -> Iterator[ChainLink | None]:
    """Hold the directory's lock, stale temporary directories removed, and give the link the
    next one follows: `previous`, or with "auto" the highest sequence in out_dir."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportWriteError(f"cannot write reports: {os_error_line(out_dir, exc)}") from None
    with chain_lock(out_dir):
        clean_stale_tmp(out_dir)
        link = latest_link(out_dir) if previous == "auto" else previous
        assert not isinstance(link, str)
        yield link


def write_link(
    out_dir: Path,
    rid: str,
    assemble: Callable[[Path, LocalDisk], dict[str, Any]],
    *,
    disk: LocalDisk | None,
    fence: Callable[[], None] | None,
) -> BundleInfo:
    """Write one link of the chain (inside `chain_head`): `assemble` fills a temporary
    directory, `fence` is called, then it is renamed to out_dir/<rid>; nothing is left on
    failure."""
    target = out_dir / rid
    if target.exists():
        raise ReportError(f"{target}: a bundle with this report id already exists")
    tmp = out_dir / f"{TMP_PREFIX}{rid}-{uuid.uuid4().hex[:6]}"
    checked = CheckedDisk(disk or LocalDisk(), rid, out_dir)
    try:
        checked.mkdir(tmp)
        info = assemble(tmp, checked)
        if fence is not None:
            fence()
        checked.publish(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BundleInfo(**{**info, "path": target})


def _assemble(
    data: ReportInput,
    tmp: Path,
    signer: Signer,
    formats: Sequence[str],
    rid: str,
    link: ChainLink | None,
    disk: LocalDisk,
    extra: Mapping[str, JSON],
    state: str,
) -> dict[str, Any]:
    report = report_document(data, rid)
    public_pem = signer.public_key_pem()
    signing = {"key_id": signer.key_id, "algorithm": signer.algorithm}
    files: list[dict[str, JSON]] = []
    for name in formats:
        fmt = FORMATS[name]
        digest, size = disk.write_chunks(tmp / fmt.file, fmt.render(report, signing))
        files.append({"name": fmt.file, "sha256": digest, "size": size})
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
        STATE_FIELD: state,
        **extra,
    }
    raw = manifest_bytes(manifest)
    disk.write(tmp / MANIFEST, raw)
    disk.write(tmp / SIGNATURE, signer.sign(raw))  # last: no signature, no complete bundle
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


@contextmanager
def chain_lock(out_dir: Path) -> Iterator[None]:
    """The reports directory's lock file: one chain writer (bundle or attestation) at a time."""
    try:
        fh = open(out_dir / LOCK_FILE, "a+b")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise ReportWriteError(f"cannot write reports: {os_error_line(out_dir, exc)}") from None
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

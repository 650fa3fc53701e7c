"""Read-only access to the signed bundles in reports.dir, for the API and the web page.

Report ids and file names are validated by regex and looked up, never joined blindly: a file
is served only when the bundle's own manifest lists it (or it is the manifest or signature).
"""

from __future__ import annotations

import builtins
import hashlib
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.report.bundle import bundle_dirs
from auditor.report.manifest import MANIFEST, SIGNATURE, parse_manifest
from auditor.report.storage import CONTENT_TYPES
from auditor.report.verify import verify_bundle

REPORT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class NotFoundError(LookupError):
    """No such report, or no such file in it (the message is safe to show)."""


@dataclass(frozen=True, slots=True)
class BundleFile:
    path: Path
    name: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class ReportLibrary:
    """The bundles under `directory`; `trusted_key` is the signer's public key PEM, if known."""

    directory: Path
    trusted_key: bytes | None = None

    def _bundle(self, report_id: str) -> Path:
        if not REPORT_ID.match(report_id):
            raise NotFoundError("no such report")
        path = self.directory / report_id
        if not path.is_dir() or path.is_symlink():
            raise NotFoundError("no such report")
        return path

    def _manifest(self, path: Path) -> dict[str, Any]:
        try:
            return parse_manifest((path / MANIFEST).read_bytes())
        except (OSError, ValueError):
            raise NotFoundError("report has no readable manifest") from None

    def list(self) -> list[dict[str, Any]]:
        """One summary per bundle with a readable manifest, newest first."""
        out: list[dict[str, Any]] = []
        for path in reversed(bundle_dirs(self.directory)):
            if not REPORT_ID.match(path.name):
                continue
            try:
                m = self._manifest(path)
            except NotFoundError:
                continue
            summary = m.get("summary") or {}
            out.append(
                {
                    "report_id": path.name,
                    "generated_at": m.get("generated_at"),
                    "sequence": m.get("sequence"),
                    "score": summary.get("score"),
                    "findings": summary.get("findings"),
                    "failed": summary.get("failed"),
                    "unknown": summary.get("unknown"),
                    "exempt": summary.get("exempt"),
                    "coverage_complete": summary.get("coverage_complete"),
                    "signed": (path / SIGNATURE).is_file(),
                    "files": [f["name"] for f in m["files"]],
                }
            )
        out.sort(key=lambda r: (str(r["generated_at"] or ""), r["report_id"]), reverse=True)
        return out

    def manifest(self, report_id: str) -> bytes:
        """The manifest's exact bytes (what the signature covers)."""
        path = self._bundle(report_id)
        self._manifest(path)
        return (path / MANIFEST).read_bytes()

    def file(self, report_id: str, name: str) -> BundleFile:
        path = self._bundle(report_id)
        listed = {str(f["name"]) for f in self._manifest(path)["files"]} | {MANIFEST, SIGNATURE}
        if not FILE_NAME.match(name) or name not in listed:
            raise NotFoundError("no such file in this report")
        target = path / name
        if target.is_symlink() or not target.is_file():
            raise NotFoundError("no such file in this report")
        ctype = CONTENT_TYPES.get(name, "application/octet-stream")
        return BundleFile(target, name, ctype, target.stat().st_size)

    def verify(self, report_id: str) -> dict[str, Any]:
        """Verified here, on the server, against the trusted key: valid, invalid (with every
        reason) or unsigned (no signature file: nothing vouches for the content)."""
        path = self._bundle(report_id)
        result = verify_bundle(path, self.trusted_key)
        signed = (path / SIGNATURE).is_file()
        state = "valid" if result.ok else ("invalid" if signed else "unsigned")
        return {
            "report_id": report_id,
            "state": state,
            "valid": result.ok,
            "problems": list(result.problems),
            "trusted_key": result.trusted_key,
            "key_id": result.key_id,
        }

    def zip(self, report_id: str) -> bytes:
        """The bundle as one zip: `<report-id>/` with every listed file, the manifest and its
        signature, byte for byte, so `auditor verify` accepts the unpacked directory."""
        path = self._bundle(report_id)
        names = [str(f["name"]) for f in self._manifest(path)["files"]] + [MANIFEST, SIGNATURE]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in names:
                if not FILE_NAME.match(name):
                    continue
                target = path / name
                if target.is_file() and not target.is_symlink():
                    archive.writestr(f"{report_id}/{name}", target.read_bytes())
        return buffer.getvalue()

    def chain(self, report_id: str) -> tuple[Sequence[dict[str, Any]], bool]:
        """From `report_id` back to the first report, following previous_manifest_sha256.
        The bool is False when a link is missing (a predecessor that is not in the dir)."""
        by_hash: dict[str, tuple[str, dict[str, Any]]] = {}
        for bundle in bundle_dirs(self.directory):
            if not REPORT_ID.match(bundle.name):
                continue
            try:
                raw = (bundle / MANIFEST).read_bytes()
                by_hash[hashlib.sha256(raw).hexdigest()] = (bundle.name, parse_manifest(raw))
            except (OSError, ValueError):
                continue
        start = self._bundle(report_id)
        raw = (start / MANIFEST).read_bytes()
        current: str | None = hashlib.sha256(raw).hexdigest()
        links: builtins.list[dict[str, Any]] = []
        seen: set[str] = set()
        while current is not None and current not in seen:
            seen.add(current)
            found = by_hash.get(current)
            if found is None:
                return links, False
            name, m = found
            previous = m.get("previous_manifest_sha256")
            links.append(
                {
                    "report_id": name,
                    "generated_at": m.get("generated_at"),
                    "sequence": m.get("sequence"),
                    "manifest_sha256": current,
                    "previous_manifest_sha256": previous,
                }
            )
            current = previous if isinstance(previous, str) and previous else None
        return links, current is None

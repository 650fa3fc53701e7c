"""manifest.json: the signed table of contents of a bundle and its link in the hash chain.

Its exact bytes are what manifest.sig signs; a verifier hashes and checks those bytes as
stored, never a re-serialization.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.model import JSON, sha256_hex

MANIFEST_SCHEMA = "auditor.manifest/v1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
REQUIRED_FIELDS = (
    "schema",
    "report_id",
    "generated_at",
    "snapshot_id",
    "rules_version",
    "tool_version",
    "sequence",
    "previous_report_id",
    "previous_manifest_sha256",
    "files",
    "summary",
    "key_id",
    "algorithm",
    "public_key_pem",
)


@dataclass(frozen=True, slots=True)
class ChainLink:
    """What the next bundle needs to know about the latest one."""

    report_id: str
    manifest_sha256: str
    sequence: int
    generated_at: str


def manifest_bytes(manifest: Mapping[str, JSON]) -> bytes:
    """The exact bytes of manifest.json that manifest.sig signs."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def parse_manifest(data: bytes) -> dict[str, Any]:
    """The manifest as a dict; ValueError naming what is wrong with it."""
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"manifest.json is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError("manifest.json is not a JSON object")
    missing = [k for k in REQUIRED_FIELDS if k not in value]
    if missing:
        raise ValueError(f"manifest.json lacks required field(s): {', '.join(missing)}")
    if value["schema"] != MANIFEST_SCHEMA:
        raise ValueError(
            f"manifest.json schema: expected {MANIFEST_SCHEMA}, found {value['schema']!r}"
        )
    files = value["files"]
    if not isinstance(files, list) or not all(
        isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("sha256"), str)
        for f in files
    ):
        raise ValueError("manifest.json files: expected a list of {name, sha256, size}")
    return value


def link_of(bundle: Path) -> ChainLink:
    """The chain link of a complete bundle directory (ValueError when it is not one)."""
    raw = (bundle / MANIFEST).read_bytes()
    m = parse_manifest(raw)
    return ChainLink(
        report_id=str(m["report_id"]),
        manifest_sha256=sha256_hex(raw),
        sequence=int(m["sequence"]),
        generated_at=str(m["generated_at"]),
    )

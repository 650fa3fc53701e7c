"""Attestations: the chain link of a cycle in which nothing a report shows changed.

A full bundle of a large estate is tens of MB; a cycle whose findings, coverage, scope,
rules, exemptions and remediation decisions are those of the latest report (same state
hash) appends instead a small signed attestation: "cycle X at T covered scope S, state H,
unchanged since report R". It is a bundle directory like any other (manifest.json listing
its one file, manifest.sig over the manifest's exact bytes, the same sequence and previous
manifest hash), so `auditor verify` checks it as a link of the chain and stock openssl
verifies its signature; the chain keeps one link per cycle, with no holes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditor.model import JSON, iso, parse_iso, sha256_hex
from auditor.report.bundle import (
    BundleInfo,
    chain_head,
    new_report_id,
    write_link,
)
from auditor.report.disk import LocalDisk
from auditor.report.input import ReportInput
from auditor.report.manifest import (
    MANIFEST,
    MANIFEST_SCHEMA,
    SIGNATURE,
    ChainLink,
    manifest_bytes,
    parse_manifest,
)
from auditor.report.signing import Signer
from auditor.report.state import STATE_FIELD, state_sha256

ATTESTATION = "attestation.json"
ATTESTATION_SCHEMA = "auditor.attestation/v1"
KIND = "attestation"
UNCHANGED_SINCE = "unchanged_since"


def is_attestation(manifest: dict[str, Any]) -> bool:
    """Whether a manifest is an attestation's rather than a full bundle's."""
    return manifest.get("kind") == KIND


def _manifest_of(out_dir: Path, link: ChainLink) -> dict[str, Any] | None:
    """The latest link's manifest, if it is here and is the one the chain links to."""
    try:
        raw = (out_dir / link.report_id / MANIFEST).read_bytes()
    except OSError:
        return None
    if sha256_hex(raw) != link.manifest_sha256:
        return None
    try:
        return parse_manifest(raw)
    except ValueError:
        return None


def write_attestation_if_unchanged(
    data: ReportInput,
    out_dir: Path,
    signer: Signer,
    report_id: str | None = None,
    previous: ChainLink | str | None = "auto",
    *,
    disk: LocalDisk | None = None,
    fence: Callable[[], None] | None = None,
    state: str | None = None,
) -> BundleInfo | None:
    """Append an attestation when `data` has the latest link's state; None (nothing
    written) when it does not, when there is no earlier report to be unchanged from, or
    when the latest link is dated after `data` (a clock jump): the caller then writes a
    full bundle. Written like a bundle (report/bundle.py): under the directory's lock,
    stale temporary directories removed, a file-system failure raised as ReportWriteError,
    `fence` called right before the rename. `state` is `state_sha256(data)` when the caller
    has it already."""
    state = state or state_sha256(data)
    with chain_head(out_dir, previous) as link:
        if link is None:
            return None
        before = _manifest_of(out_dir, link)
        if before is None or before.get(STATE_FIELD) != state:
            return None
        if parse_iso(link.generated_at) > data.generated_at:
            return None  # a full bundle follows the sequence and logs the clock jump
        since = before.get(UNCHANGED_SINCE) if is_attestation(before) else None
        if not isinstance(since, dict):
            since = {"report_id": link.report_id, "manifest_sha256": link.manifest_sha256}
        rid = report_id or new_report_id(data.generated_at)
        return write_link(
            out_dir,
            rid,
            lambda tmp, disk: _assemble(data, tmp, signer, rid, link, before, since, state, disk),
            disk=disk,
            fence=fence,
        )


def _assemble(
    data: ReportInput,
    tmp: Path,
    signer: Signer,
    rid: str,
    link: ChainLink,
    before: dict[str, Any],
    since: dict[str, Any],
    state: str,
    disk: LocalDisk,
) -> dict[str, Any]:
    snap = data.snapshot
    generated = iso(data.generated_at)
    body: dict[str, JSON] = {
        "schema": ATTESTATION_SCHEMA,
        "report_id": rid,
        "generated_at": generated,
        "statement": (
            f"cycle {snap.id} at {iso(snap.finished_at)} covered the scope below; its "
            f"findings and coverage are those of report {since['report_id']} "
            f"(state {state})"
        ),
        "snapshot": {
            "id": snap.id,
            "started_at": iso(snap.started_at),
            "finished_at": iso(snap.finished_at),
            "evaluated_at": iso(data.evaluation.evaluated_at),
            "api_calls_total": sum(snap.api_calls.values()),
        },
        "scope": snap.scope.to_json(),
        "coverage": {"complete": snap.complete, "gaps": [g.to_json() for g in snap.gaps]},
        STATE_FIELD: state,
        UNCHANGED_SINCE: dict(since),
        "rules_version": data.rules_version,
        "tool": {"name": "auditor", "version": data.tool_version},
    }
    raw_body = (json.dumps(body, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()
    disk.write(tmp / ATTESTATION, raw_body)
    manifest: dict[str, JSON] = {
        "schema": MANIFEST_SCHEMA,
        "kind": KIND,
        "report_id": rid,
        "generated_at": generated,
        "snapshot_id": snap.id,
        "rules_version": data.rules_version,
        "tool_version": data.tool_version,
        "sequence": link.sequence + 1,
        "previous_report_id": link.report_id,
        "previous_manifest_sha256": link.manifest_sha256,
        "files": [{"name": ATTESTATION, "sha256": sha256_hex(raw_body), "size": len(raw_body)}],
        "summary": before.get("summary") or {},
        STATE_FIELD: state,
        UNCHANGED_SINCE: dict(since),
        "key_id": signer.key_id,
        "algorithm": signer.algorithm,
        "public_key_pem": signer.public_key_pem().decode("ascii"),
    }
    raw = manifest_bytes(manifest)
    disk.write(tmp / MANIFEST, raw)
    disk.write(tmp / SIGNATURE, signer.sign(raw))  # last: no signature, no link
    return {
        "report_id": rid,
        "generated_at": data.generated_at,
        "manifest_sha256": sha256_hex(raw),
        "previous_manifest_sha256": link.manifest_sha256,
        "sequence": link.sequence + 1,
        "files": (ATTESTATION, MANIFEST, SIGNATURE),
        "key_id": signer.key_id,
        "algorithm": signer.algorithm,
    }


def identity_problems(path: Path, m: dict[str, Any]) -> list[str]:
    """attestation.json must say what its manifest says (report id, time, cycle, state)."""
    try:
        body = json.loads((path / ATTESTATION).read_bytes())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return [f"{ATTESTATION} is missing or not valid JSON"]
    if not isinstance(body, dict):
        return [f"{ATTESTATION} is not a JSON object"]
    out: list[str] = []
    for key, expected, found in (
        ("report_id", m["report_id"], body.get("report_id")),
        ("generated_at", m["generated_at"], body.get("generated_at")),
        ("snapshot id", m["snapshot_id"], (body.get("snapshot") or {}).get("id")),
        (STATE_FIELD, m.get(STATE_FIELD), body.get(STATE_FIELD)),
        (UNCHANGED_SINCE, m.get(UNCHANGED_SINCE), body.get(UNCHANGED_SINCE)),
    ):
        if expected != found:
            out.append(f"{ATTESTATION} {key}: manifest says {expected!r}, it says {found!r}")
    return out

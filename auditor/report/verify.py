"""Verify one bundle (every hash, the signature) or a directory of bundles as a chain.

Fails closed and says what it expected and what it found. A signature is checked against
the public key embedded in the manifest (integrity) AND, when given, against the trusted
keys (origin): a bundle re-signed with another key fails against the trusted key.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from auditor.model import parse_iso, sha256_hex
from auditor.report.attestation import (
    ATTESTATION,
    UNCHANGED_SINCE,
    identity_problems,
    is_attestation,
)
from auditor.report.manifest import MANIFEST, SIGNATURE, parse_manifest
from auditor.report.signing import ECDSA_P256_SHA256, ED25519, algorithm_of, key_id_of
from auditor.report.state import STATE_FIELD

TrustedKeys = bytes | Sequence[bytes] | None


@dataclass(frozen=True, slots=True)
class VerifyResult:
    path: Path
    problems: tuple[str, ...]
    report_id: str | None = None
    generated_at: str | None = None
    sequence: int | None = None
    previous_report_id: str | None = None
    previous_manifest_sha256: str | None = None
    manifest_sha256: str | None = None
    key_id: str | None = None
    algorithm: str | None = None
    trusted_key: bool = False  # the signature verified with a key the caller trusts
    kind: str = "report"  # or "attestation": a cycle with the state of an earlier report
    state_sha256: str | None = None
    unchanged_since: str | None = None  # an attestation's full report
    # reports the chain declares will never be published (cycle, report id, reason)
    missing_reports: tuple[dict[str, Any], ...] = ()
    repaired: dict[str, Any] | None = None  # set when published late for its cycle

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class ChainResult:
    path: Path
    bundles: tuple[VerifyResult, ...]
    problems: tuple[str, ...] = field(default=())  # chain-level problems (links, order)
    # not failures: a bundle dated in the future or before its predecessor (a clock jump)
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return bool(self.bundles) and not self.problems and all(b.ok for b in self.bundles)

    @property
    def all_problems(self) -> tuple[str, ...]:
        out: list[str] = [f"{b.path.name}: {p}" for b in self.bundles for p in b.problems]
        return (*out, *self.problems)


def _trusted(keys: TrustedKeys) -> list[bytes]:
    if keys is None:
        return []
    if isinstance(keys, bytes):
        return [keys]
    return list(keys)


def _check_signature(public_pem: bytes, algorithm: str, data: bytes, sig: bytes) -> bool:
    key = serialization.load_pem_public_key(public_pem)
    try:
        if algorithm == ED25519 and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, data)
            return True
        if algorithm == ECDSA_P256_SHA256 and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, data, ec.ECDSA(hashes.SHA256()))
            return True
    except InvalidSignature:
        return False
    return False


def verify_bundle(path: Path, public_key_pem: TrustedKeys = None) -> VerifyResult:
    """Check the manifest's signature and every file's SHA-256 in one bundle directory."""
    path = Path(path)
    if not path.is_dir():
        return VerifyResult(path, (f"{path} is not a bundle directory",))
    problems: list[str] = []
    try:
        raw = (path / MANIFEST).read_bytes()
    except OSError:
        return VerifyResult(path, ("manifest.json is missing: not a complete bundle",))
    try:
        sig = (path / SIGNATURE).read_bytes()
    except OSError:
        return VerifyResult(
            path,
            (
                "manifest.sig is missing: the bundle was never completed, or its signature "
                "was removed",
            ),
        )
    try:
        m = parse_manifest(raw)
    except ValueError as exc:
        return VerifyResult(path, (str(exc),))
    manifest_sha = sha256_hex(raw)
    base: dict[str, Any] = {
        "report_id": str(m["report_id"]),
        "generated_at": str(m["generated_at"]),
        "sequence": m["sequence"] if isinstance(m["sequence"], int) else None,
        "previous_report_id": m["previous_report_id"],
        "previous_manifest_sha256": m["previous_manifest_sha256"],
        "manifest_sha256": manifest_sha,
        "key_id": str(m["key_id"]),
        "algorithm": str(m["algorithm"]),
        "kind": "attestation" if is_attestation(m) else "report",
        "state_sha256": m.get(STATE_FIELD),
        "unchanged_since": (m.get(UNCHANGED_SINCE) or {}).get("report_id")
        if isinstance(m.get(UNCHANGED_SINCE), dict)
        else None,
        "missing_reports": tuple(
            x for x in (m.get("missing_reports") or []) if isinstance(x, dict)
        ),
        "repaired": m.get("repaired") if isinstance(m.get("repaired"), dict) else None,
    }
    trusted_ok = _check_signatures(m, raw, sig, _trusted(public_key_pem), problems)
    _check_files(path, m, problems)
    _check_identity(path, m, problems)
    return VerifyResult(path, tuple(problems), trusted_key=trusted_ok, **base)


def _check_signatures(
    m: dict[str, Any], raw: bytes, sig: bytes, trusted: list[bytes], problems: list[str]
) -> bool:
    algorithm = str(m["algorithm"])
    embedded = str(m["public_key_pem"]).encode()
    try:
        embedded_alg = algorithm_of(embedded)
        embedded_id = key_id_of(embedded)
    except Exception:
        problems.append("manifest.json public_key_pem is not a valid Ed25519 or P-256 public key")
        return False
    if embedded_alg != algorithm:
        problems.append(f"algorithm: manifest says {algorithm}, embedded key is {embedded_alg}")
    if embedded_id != m["key_id"]:
        problems.append(f"key_id: manifest says {m['key_id']}, embedded key is {embedded_id}")
    if not _check_signature(embedded, algorithm, raw, sig):
        problems.append(
            f"manifest.sig does not verify over manifest.json with the embedded key {embedded_id} "
            "(the manifest or the signature was altered)"
        )
    if not trusted:
        return False
    for key in trusted:
        if _check_signature(key, key_alg(key), raw, sig):
            return True
    ids = ", ".join(_safe_id(k) for k in trusted)
    problems.append(
        f"signature: expected a signature by the trusted key {ids}; found one by {embedded_id}"
        if embedded_id not in ids
        else f"manifest.sig does not verify with the trusted key {ids}"
    )
    return False


def key_alg(key: bytes) -> str:
    """The algorithm of a public key, or "unsupported"."""
    try:
        return algorithm_of(key)
    except Exception:
        return "unsupported"


def _safe_id(key: bytes) -> str:
    try:
        return key_id_of(key)
    except Exception:
        return "<unparseable key>"


def _check_files(path: Path, m: dict[str, Any], problems: list[str]) -> None:
    listed = {str(f["name"]): f for f in m["files"]}
    main = ATTESTATION if is_attestation(m) else "report.json"
    if main not in listed:
        problems.append(f"manifest.json does not list {main}")
    for name, entry in sorted(listed.items()):
        if "/" in name or name.startswith(".") or name in (MANIFEST, SIGNATURE):
            problems.append(f"manifest.json lists an invalid file name {name!r}")
            continue
        try:
            found, size = _file_sha256(path / name)
        except OSError:
            problems.append(f"{name}: listed in the manifest but missing")
            continue
        if found != entry["sha256"]:
            problems.append(f"{name}: SHA-256 expected {entry['sha256']}, found {found}")
        elif entry.get("size") is not None and entry["size"] != size:
            problems.append(f"{name}: size expected {entry['size']}, found {size}")
    extra = sorted(
        p.name
        for p in path.iterdir()
        if p.name not in listed and p.name not in (MANIFEST, SIGNATURE)
    )
    for name in extra:
        problems.append(f"{name}: present in the bundle but not listed in the manifest")


def _file_sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _check_identity(path: Path, m: dict[str, Any], problems: list[str]) -> None:
    rid = str(m["report_id"])
    if path.name != rid:
        problems.append(
            f"directory name {path.name!r} does not match the manifest's report_id {rid!r}"
        )
    try:
        parse_iso(str(m["generated_at"]))
    except ValueError:
        problems.append(f"generated_at {m['generated_at']!r} is not an ISO 8601 datetime")
    if is_attestation(m):
        if not any(p.startswith(f"{ATTESTATION}:") for p in problems):
            problems.extend(identity_problems(path, m))
        return
    report_file = path / "report.json"
    if not report_file.is_file() or any(p.startswith("report.json:") for p in problems):
        return
    try:
        report = json.loads(report_file.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError):
        problems.append("report.json is not valid JSON")
        return
    for key, expected, found in (
        ("report_id", rid, report.get("report_id")),
        ("generated_at", m["generated_at"], report.get("generated_at")),
        ("snapshot id", m["snapshot_id"], (report.get("snapshot") or {}).get("id")),
    ):
        if expected != found:
            problems.append(f"report.json {key}: manifest says {expected!r}, report says {found!r}")


def verify_chain(
    directory: Path, public_key_pem: TrustedKeys = None, now: datetime | None = None
) -> ChainResult:
    """Every bundle in `directory`, in sequence order, and every link between them.

    Order is the manifests' sequence, never file names or dates: a clock jump makes a
    bundle's date go backwards (a warning), while a missing, inserted, altered or reordered
    bundle breaks a hash link (a problem). `now` adds a warning for future-dated bundles.
    """
    from auditor.report.bundle import bundle_dirs

    directory = Path(directory)
    dirs = bundle_dirs(directory)
    if not dirs:
        return ChainResult(directory, (), (f"{directory}: no report bundles found",))
    results = tuple(
        sorted(
            (verify_bundle(d, public_key_pem) for d in dirs),
            key=lambda r: (r.sequence is None, r.sequence or 0, r.path.name),
        )
    )
    problems: list[str] = []
    by_id: dict[str | None, VerifyResult] = {r.report_id: r for r in results if r.report_id}
    first = results[0]
    if first.sequence is not None and (first.sequence != 1 or first.previous_report_id):
        problems.append(
            f"{first.path.name}: the chain starts at sequence {first.sequence}; its previous "
            f"report {first.previous_report_id} is not in {directory} (removed?)"
        )
    problems.extend(_attestation_problems(results, by_id))
    problems.extend(_duplicate_sequences(results))
    trusted = bool(_trusted(public_key_pem))
    for prev, cur in itertools.pairwise(results):
        problems.extend(_link_problems(prev, cur, by_id))
        if not trusted and prev.key_id and cur.key_id and prev.key_id != cur.key_id:
            problems.append(
                f"{cur.path.name}: signed by key {cur.key_id} but {prev.path.name} by "
                f"{prev.key_id}; pass --key for every trusted key to accept a key rotation"
            )
    return ChainResult(directory, results, tuple(problems), tuple(_time_warnings(results, now)))


def _duplicate_sequences(results: Sequence[VerifyResult]) -> list[str]:
    seen: dict[int, str] = {}
    out: list[str] = []
    for r in results:
        if r.sequence is None:
            continue
        if r.sequence in seen:
            out.append(
                f"{r.path.name}: sequence {r.sequence} is also used by {seen[r.sequence]} "
                "(the chain forked)"
            )
        else:
            seen[r.sequence] = r.path.name
    return out


def _time_warnings(results: Sequence[VerifyResult], now: datetime | None) -> list[str]:
    out: list[str] = []
    dated = [(r, _when(r.generated_at)) for r in results]
    for (prev, prev_at), (cur, cur_at) in itertools.pairwise(dated):
        if prev_at is not None and cur_at is not None and cur_at < prev_at:
            out.append(
                f"{cur.path.name}: generated_at {cur.generated_at} is before the previous "
                f"bundle {prev.path.name}'s {prev.generated_at} (a clock jump; the chain "
                "follows the sequence)"
            )
    if now is not None:
        for r, at in dated:
            if at is not None and at > now:
                out.append(
                    f"{r.path.name}: generated_at {r.generated_at} is in the future "
                    f"(now {now.isoformat()}): the signing host's clock was ahead"
                )
    return out


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def _attestation_problems(
    results: tuple[VerifyResult, ...], by_id: dict[str | None, VerifyResult]
) -> list[str]:
    """An attestation vouches for the state of a full report earlier in the chain."""
    out: list[str] = []
    for r in results:
        if r.kind != "attestation" or r.report_id is None:
            continue
        full = by_id.get(r.unchanged_since)
        if full is None:
            out.append(
                f"{r.path.name}: attests the state of report {r.unchanged_since}, which is "
                "not in the directory"
            )
        elif full.kind != "report" or full.state_sha256 != r.state_sha256:
            out.append(
                f"{r.path.name}: state {r.state_sha256} differs from report "
                f"{r.unchanged_since}'s {full.state_sha256}"
            )
    return out


def _link_problems(
    prev: VerifyResult, cur: VerifyResult, by_id: dict[str | None, VerifyResult]
) -> list[str]:
    if prev.report_id is None or cur.report_id is None:
        return []  # an unreadable bundle is already reported by verify_bundle
    name = cur.path.name
    out: list[str] = []
    if cur.previous_report_id == prev.report_id:
        if cur.previous_manifest_sha256 != prev.manifest_sha256:
            out.append(
                f"{name}: records previous manifest SHA-256 {cur.previous_manifest_sha256} for "
                f"{prev.report_id}, found {prev.manifest_sha256} ({prev.path.name} was altered "
                "or replaced after the next report was signed)"
            )
    elif cur.previous_report_id in by_id:
        out.append(
            f"{name}: links to previous report {cur.previous_report_id}, but the bundle before "
            f"it is {prev.report_id} ({prev.path.name} was inserted, or the bundles were reordered)"
        )
    else:
        out.append(
            f"{name}: links to previous report {cur.previous_report_id} (sequence "
            f"{(cur.sequence or 0) - 1}), which is not in the directory: removed; the bundle "
            f"before it here is {prev.report_id}"
        )
    if (
        cur.sequence is not None
        and prev.sequence is not None
        and cur.sequence != prev.sequence + 1
        and cur.previous_report_id == prev.report_id
    ):
        out.append(f"{name}: sequence expected {prev.sequence + 1}, found {cur.sequence}")
    return out

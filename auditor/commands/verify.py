"""`auditor verify PATH`: check a report bundle, or a directory of bundles as a chain."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from auditor.errors import ExitCode

DESCRIPTION = """\
Verify a report bundle (every file's SHA-256 and the signature over manifest.json), or a
directory of bundles as a hash chain (no report removed, reordered, altered or inserted).

The signature is checked against the public key embedded in each manifest AND against the
trusted key(s): --key FILE (repeatable: a PEM from `auditor keys public`), else the key of
the configured signer (signing.key_file / key_env / kms_key_id). Without any trusted key
only integrity is proven, not origin: a warning says so (--require-key makes it an error).

A directory holding a single bundle (what `auditor reports get ID --out DIR` writes) is
verified as that bundle, and the output says its place in the chain was not checked; pass
--chain to require the whole chain (every bundle from sequence 1) instead.

A chain is ordered by each manifest's sequence number. Warnings (exit code unchanged): a
bundle dated in the future or before its predecessor (a clock jump). Notes: reports the
chain declares missing (a committed cycle whose report could not be written or rebuilt) and
reports published late for their cycle ("repaired").

examples:
  auditor verify --key pub.pem reports/20261122T120000Z-1a2b3c4d
  auditor verify --key pub.pem reports/
  auditor reports get 20261122T120000Z-1a2b3c4d --out evidence && auditor verify evidence
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify",
        help="verify a report bundle or a chain of bundles",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", type=Path, help="a bundle directory, or a directory of bundles")
    p.add_argument(
        "--key", type=Path, action="append", default=[], help="trusted public key PEM (repeatable)"
    )
    p.add_argument("--config", type=Path, default=None, help="config file (default ./auditor.yaml)")
    p.add_argument("--require-key", action="store_true", help="fail when no trusted key is known")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--chain",
        action="store_true",
        help="a directory must hold the whole chain, even when it holds one bundle",
    )
    p.set_defaults(handler=handle)


def trusted_keys(args: argparse.Namespace) -> tuple[list[bytes], str]:
    """The trusted keys and where they came from (for the output)."""
    from auditor.errors import BadInputError

    if args.key:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        from auditor.yamlsafe import read_capped

        keys: list[bytes] = []
        for path in args.key:
            try:
                pem = read_capped(Path(path), 64 * 1024, "public key")
                load_pem_public_key(pem)
            except ValueError as exc:
                raise BadInputError(
                    str(exc)
                    if str(exc).startswith(str(path))
                    else f"{path}: not a PEM public key (export one with `auditor keys public`)"
                ) from None
            except UnsupportedAlgorithm:
                raise BadInputError(f"{path}: unsupported public key type") from None
            keys.append(pem)
        return keys, "--key " + ", ".join(str(k) for k in args.key)
    try:
        from auditor.aws import AwsSessions
        from auditor.report.aws_clients import kms_factory
        from auditor.report.signing import key_source, signer_from_settings
        from auditor.settings import load_settings

        settings = load_settings(args.config)
        source = key_source(settings)
        signer = signer_from_settings(settings, kms_factory(AwsSessions()))
        return [signer.public_key_pem()], f"configured signer ({source.kind} {source.name})"
    except Exception as exc:  # no usable configured key: say so, never silently trust
        return [], f"none ({type(exc).__name__}: {exc})"


def _single_bundle(path: Path) -> Path | None:
    """The one bundle in a directory that holds exactly one (and nothing else of note)."""
    if not path.is_dir():
        return None
    from auditor.report.manifest import MANIFEST

    bundles = [p for p in path.iterdir() if p.is_dir() and (p / MANIFEST).is_file()]
    return bundles[0] if len(bundles) == 1 else None


def handle(args: argparse.Namespace) -> int:
    from auditor.errors import BadInputError
    from auditor.report.manifest import MANIFEST, SIGNATURE
    from auditor.report.verify import verify_bundle, verify_chain

    path: Path = args.path
    if not path.exists():
        raise BadInputError(f"{path}: no such file or directory")
    keys, origin = trusted_keys(args)
    if not keys:
        msg = (
            f"no trusted public key ({origin}): signatures were checked against the key "
            "embedded in each manifest only, which proves integrity but not origin; pass "
            "--key pub.pem"
        )
        if args.require_key:
            print(f"auditor: error: {msg}", file=sys.stderr)
            return int(ExitCode.VERIFY_FAILED)
        print(f"auditor: warning: {msg}", file=sys.stderr)
    trusted = keys or None
    warnings: list[str] = []
    note = None
    single = _single_bundle(path) if not args.chain else None
    if single is not None:
        path = single
    if any((path / name).is_file() for name in (MANIFEST, SIGNATURE, "report.json")):
        result = verify_bundle(path, trusted)
        problems = [f"{path.name}: {p}" for p in result.problems]
        checked = [result]
        if (result.sequence or 0) > 1:
            note = (
                f"this bundle's place in the chain was not checked (sequence {result.sequence}; "
                "its predecessors are not here): verify a directory with every bundle from "
                "sequence 1 to check the chain"
            )
    else:
        chain = verify_chain(path, trusted, now=datetime.now(UTC))
        problems = list(chain.all_problems)
        warnings = list(chain.warnings)
        checked = list(chain.bundles)
    ok = not problems and bool(checked)
    missing = [{**m, "declared_in": b.report_id} for b in checked for m in b.missing_reports]
    repaired = [{**(b.repaired or {}), "report_id": b.report_id} for b in checked if b.repaired]
    for w in warnings:
        print(f"auditor: warning: {w}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {
                    "path": str(path),
                    "valid": ok,
                    "trusted_key": origin if keys else None,
                    "bundles": [
                        {
                            "report_id": b.report_id,
                            "valid": b.ok,
                            "sequence": b.sequence,
                            "key_id": b.key_id,
                            "problems": list(b.problems),
                        }
                        for b in checked
                    ],
                    "problems": problems,
                    "chain_checked": len(checked) > 1 or note is None,
                    "warnings": warnings,
                    "missing_reports": missing,
                    "repaired_reports": repaired,
                },
                indent=2,
            )
        )
    else:
        for b in checked:
            mark = "OK  " if b.ok else "FAIL"
            print(f"{mark} {b.path.name} (sequence {b.sequence}, key {b.key_id})")
        for p in problems:
            print(f"  - {p}")
        for m in missing:
            print(
                f"  note: report missing for cycle {m.get('cycle_id')} (report "
                f"{m.get('report_id')}), declared in {m['declared_in']}: {m.get('reason')}"
            )
        for r in repaired:
            print(
                f"  note: {r['report_id']} is the late report of cycle {r.get('cycle_id')} "
                f"({r.get('reason')})"
            )
        if ok:
            trust = f"trusted key from {origin}" if keys else "embedded keys only"
            print(f"valid: {len(checked)} bundle(s), {trust}")
            if note:
                print(f"note: {note}")
        else:
            print(f"INVALID: {len(problems)} problem(s)")
    return int(ExitCode.OK if ok else ExitCode.VERIFY_FAILED)

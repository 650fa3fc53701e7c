"""`auditor keys generate|public`: the report signing key."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = """\
Manage the key that signs report bundles.

  generate  write a new Ed25519 private key (PEM, mode 0600); prints only its key id
  public    print the public key PEM of the configured signer (local key or AWS KMS key):
            give it to auditors, who verify with `auditor verify --key pub.pem` or openssl

examples:
  auditor keys generate --out /etc/auditor/signing.key
  auditor keys public --config auditor.yaml > pub.pem
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "keys",
        help="generate the report signing key, print its public key",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ks = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    g = ks.add_parser(
        "generate",
        help="write a new Ed25519 private key (0600)",
        description="example:\n  auditor keys generate --out ./auditor-signing.key",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("--out", type=Path, default=None, help="default: signing.key_file")
    g.add_argument("--force", action="store_true", help="overwrite an existing key file")
    g.add_argument("--config", type=Path, default=None, help="config file (default ./auditor.yaml)")
    g.set_defaults(handler=generate)
    pub = ks.add_parser(
        "public",
        help="print the signer's public key PEM",
        description="example:\n  auditor keys public > pub.pem",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pub.add_argument(
        "--config", type=Path, default=None, help="config file (default ./auditor.yaml)"
    )
    pub.set_defaults(handler=public)


def generate(args: argparse.Namespace) -> int:
    from auditor.report.errors import SigningKeyError
    from auditor.report.signing import (
        Ed25519Signer,
        generate_ed25519_pem,
        write_private_key,
    )
    from auditor.settings import load_settings

    out: Path | None = args.out
    if out is None:
        out = load_settings(args.config).signing.key_file
    if out is None:
        raise SigningKeyError("no --out given and signing.key_file is not set")
    pem = generate_ed25519_pem()
    write_private_key(out, pem, overwrite=args.force)
    signer = Ed25519Signer.from_pem(pem, str(out))
    print(f"wrote Ed25519 signing key to {out} (mode 0600)")
    print(f"key id: {signer.key_id}")
    return 0


def public(args: argparse.Namespace) -> int:
    from auditor.aws import AwsSessions
    from auditor.report.aws_clients import kms_factory
    from auditor.report.signing import signer_from_settings
    from auditor.settings import load_settings

    settings = load_settings(args.config)
    signer = signer_from_settings(settings, kms_factory(AwsSessions()))
    sys.stdout.write(signer.public_key_pem().decode("ascii"))
    print(f"key id: {signer.key_id} ({signer.algorithm})", file=sys.stderr)
    return 0

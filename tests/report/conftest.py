"""Fixtures for report tests: signers, bundles and chains of bundles, the openssl procedure."""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from moto import mock_aws

from auditor.report.bundle import BundleInfo, write_bundle
from auditor.report.signing import ED25519, Ed25519Signer, KmsSigner, Signer, algorithm_of
from tests.report.factory import NOW, make_input


@pytest.fixture
def signer() -> Ed25519Signer:
    return Ed25519Signer(ed25519.Ed25519PrivateKey.generate())


SIGNER_KINDS = ("ed25519", "kms")


@contextmanager
def signer_of(kind: str) -> Iterator[Signer]:
    """A local Ed25519 key, or an ECC_NIST_P256 KMS key (moto) signing through kms:Sign."""
    if kind == "ed25519":
        yield Ed25519Signer(ed25519.Ed25519PrivateKey.generate())
        return
    with mock_aws():
        kms = boto3.client("kms", region_name="us-east-1")
        meta = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
        yield KmsSigner(kms, meta["Arn"])


@pytest.fixture
def pub_pem(tmp_path: Path, signer: Signer) -> Path:
    path = tmp_path / "pub.pem"
    path.write_bytes(signer.public_key_pem())
    return path


ChainFactory = Callable[[int], list[BundleInfo]]


@pytest.fixture
def make_chain(tmp_path: Path, signer: Signer) -> ChainFactory:
    def make(n: int) -> list[BundleInfo]:
        out = tmp_path / "reports"
        return [
            write_bundle(
                make_input(generated_at=NOW + timedelta(hours=i), snapshot_id=f"snap-{i}"),
                out,
                signer,
            )
            for i in range(n)
        ]

    return make


def cli(argv: Sequence[str]) -> int:
    """Run one of the report subcommands as `auditor` would (cli.py registers the same)."""
    from auditor.commands import keys, reports, verify

    parser = argparse.ArgumentParser(prog="auditor")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (keys, verify, reports):
        module.register(sub)
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def openssl_signature_ok(bundle: Path, pub: Path) -> bool:
    """The documented openssl command for the bundle's algorithm."""
    if algorithm_of(pub.read_bytes()) == ED25519:
        argv = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin",
                "-in", "manifest.json", "-sigfile", "manifest.sig"]  # fmt: skip
    else:
        argv = ["openssl", "dgst", "-sha256", "-verify", str(pub),
                "-signature", "manifest.sig", "manifest.json"]  # fmt: skip
    proc = subprocess.run(argv, cwd=bundle, capture_output=True, check=False)
    return proc.returncode == 0


def openssl_sha256(path: Path) -> str:
    out = subprocess.run(
        ["openssl", "dgst", "-sha256", "-r", str(path)], capture_output=True, check=True, text=True
    ).stdout
    return out.split()[0]


def openssl_files_ok(bundle: Path) -> bool:
    """The documented hash check: every file listed in manifest.json, by openssl dgst."""
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    return all(
        (bundle / f["name"]).is_file() and openssl_sha256(bundle / f["name"]) == f["sha256"]
        for f in manifest["files"]
    )


def openssl_bundle_ok(bundle: Path, pub: Path) -> bool:
    """Signature first: only a verified manifest's hashes are worth comparing."""
    return openssl_signature_ok(bundle, pub) and openssl_files_ok(bundle)


def openssl_chain_ok(directory: Path, pub: Path) -> bool:
    """The documented chain procedure: each bundle valid, each links to the one before it."""
    bundles = sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
    previous: Path | None = None
    for b in bundles:
        if not openssl_bundle_ok(b, pub):
            return False
        m = json.loads((b / "manifest.json").read_bytes())
        if m["report_id"] != b.name:
            return False
        if previous is None:
            if m["previous_manifest_sha256"] is not None:
                return False
        elif m["previous_manifest_sha256"] != openssl_sha256(previous / "manifest.json"):
            return False
        previous = b
    return previous is not None

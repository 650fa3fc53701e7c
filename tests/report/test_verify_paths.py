"""Each way verification can fail says what it found and what it expected, for both kinds of
signing key; and a manifest over KMS's 4 KB raw-message limit is signed and verifies."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from auditor.report.bundle import write_bundle
from auditor.report.manifest import MANIFEST, SIGNATURE, manifest_bytes
from auditor.report.signing import KMS_RAW_LIMIT, KmsSigner, Signer
from auditor.report.verify import verify_bundle, verify_chain
from tests.report.conftest import (
    SIGNER_KINDS,
    ChainFactory,
    cli,
    openssl_bundle_ok,
    signer_of,
)
from tests.report.factory import NOW, make_input


@pytest.fixture(params=SIGNER_KINDS)
def signer(request: pytest.FixtureRequest) -> Iterator[Signer]:
    with signer_of(request.param) as s:
        yield s


def resign(bundle: Path, signer: Signer, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the manifest and sign it again with the real key: only `change` is wrong."""
    m = json.loads((bundle / MANIFEST).read_bytes())
    change(m)
    raw = manifest_bytes(m)
    (bundle / MANIFEST).write_bytes(raw)
    (bundle / SIGNATURE).write_bytes(signer.sign(raw))


def test_a_listed_file_that_is_missing_is_named(make_chain: ChainFactory, pub_pem: Path) -> None:
    """A file the signed manifest lists but the bundle lacks fails, naming the file."""
    (bundle,) = make_chain(1)
    (bundle.path / "findings.csv").unlink()
    result = verify_bundle(bundle.path, pub_pem.read_bytes())
    assert ["findings.csv: listed in the manifest but missing"] == list(result.problems)
    assert 4 == cli(["verify", "--key", str(pub_pem), str(bundle.path)])


def test_a_size_that_does_not_match_is_named(
    make_chain: ChainFactory, pub_pem: Path, signer: Signer
) -> None:
    """A correctly signed manifest whose size entry is wrong fails with expected and found."""
    (bundle,) = make_chain(1)
    actual = (bundle.path / "report.html").stat().st_size

    def shrink(m: dict[str, Any]) -> None:
        next(f for f in m["files"] if f["name"] == "report.html")["size"] = actual - 1

    resign(bundle.path, signer, shrink)
    result = verify_bundle(bundle.path, pub_pem.read_bytes())
    assert [f"report.html: size expected {actual - 1}, found {actual}"] == list(result.problems)


def test_a_sequence_gap_in_the_chain_is_named(
    make_chain: ChainFactory, pub_pem: Path, signer: Signer
) -> None:
    """A bundle whose sequence skips a number (a report was never written, or hidden) fails."""
    bundles = make_chain(3)

    def skip(m: dict[str, Any]) -> None:
        m["sequence"] = 4

    resign(bundles[2].path, signer, skip)
    result = verify_chain(bundles[0].path.parent, pub_pem.read_bytes())
    assert not result.ok
    assert any(p.endswith("sequence expected 3, found 4") for p in result.all_problems), (
        result.all_problems
    )


def test_an_algorithm_that_does_not_match_the_key_is_named(
    make_chain: ChainFactory, pub_pem: Path, signer: Signer
) -> None:
    """The manifest's algorithm must be the embedded key's; a mismatch is a problem."""
    (bundle,) = make_chain(1)
    other = "ed25519" if signer.algorithm != "ed25519" else "ecdsa-p256-sha256"

    def lie(m: dict[str, Any]) -> None:
        m["algorithm"] = other

    resign(bundle.path, signer, lie)
    problems = verify_bundle(bundle.path, pub_pem.read_bytes()).problems
    assert f"algorithm: manifest says {other}, embedded key is {signer.algorithm}" in problems


def test_a_key_id_that_does_not_match_the_key_is_named(
    make_chain: ChainFactory, pub_pem: Path, signer: Signer
) -> None:
    """key_id is the embedded key's fingerprint; another value is a problem."""
    (bundle,) = make_chain(1)
    fake = "sha256:" + "0" * 64

    def lie(m: dict[str, Any]) -> None:
        m["key_id"] = fake

    resign(bundle.path, signer, lie)
    problems = verify_bundle(bundle.path, pub_pem.read_bytes()).problems
    assert f"key_id: manifest says {fake}, embedded key is {signer.key_id}" in problems


class DocumentedKms:
    """kms:Sign and kms:GetPublicKey as AWS documents them, over a local P-256 key: RAW
    messages are limited to 4096 bytes and hashed by KMS, DIGEST messages are signed as given.
    (moto 5 signs a DIGEST as if it were RAW, so it cannot test the large-manifest branch.)"""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.calls: list[str] = []

    def get_public_key(self, KeyId: str) -> dict[str, Any]:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {"KeyId": KeyId, "KeySpec": "ECC_NIST_P256", "PublicKey": der}

    def sign(self, KeyId: str, Message: bytes, MessageType: str, SigningAlgorithm: str) -> Any:
        assert "ECDSA_SHA_256" == SigningAlgorithm
        self.calls.append(MessageType)
        if MessageType == "RAW":
            if len(Message) > KMS_RAW_LIMIT:
                raise ValueError("ValidationException: Message is longer than 4096 bytes")
            signature = self.key.sign(Message, ec.ECDSA(hashes.SHA256()))
        else:
            assert 32 == len(Message)
            signature = self.key.sign(Message, ec.ECDSA(Prehashed(hashes.SHA256())))
        return {"KeyId": KeyId, "Signature": signature, "SigningAlgorithm": SigningAlgorithm}


@pytest.fixture(params=["ed25519", "kms"])
def large_signer(request: pytest.FixtureRequest) -> Iterator[Signer]:
    if request.param == "kms":
        yield KmsSigner(DocumentedKms(), "arn:aws:kms:us-east-1:111111111111:key/documented")
        return
    with signer_of(request.param) as s:
        yield s


def test_a_manifest_over_4_kb_is_signed_and_verifies(tmp_path: Path, large_signer: Signer) -> None:
    """Over KMS's raw-message limit KMS signs the digest: the signature is still over the
    manifest bytes, for auditor and for openssl, and tampering is still caught."""
    signer = large_signer
    pub_pem = tmp_path / "pub.pem"
    pub_pem.write_bytes(signer.public_key_pem())
    info = write_bundle(
        make_input(5, generated_at=NOW + timedelta(hours=1), snapshot_id="s" * KMS_RAW_LIMIT),
        tmp_path,
        signer,
    )
    manifest = info.path / MANIFEST
    assert manifest.stat().st_size > KMS_RAW_LIMIT
    assert verify_bundle(info.path, pub_pem.read_bytes()).ok
    assert openssl_bundle_ok(info.path, pub_pem)
    manifest.write_bytes(manifest.read_bytes().replace(b'"sequence": 1', b'"sequence": 7'))
    assert not verify_bundle(info.path, pub_pem.read_bytes()).ok
    assert not openssl_bundle_ok(info.path, pub_pem)
    if isinstance(signer, KmsSigner):
        assert ["DIGEST"] == signer._client.calls  # the large branch ran, once

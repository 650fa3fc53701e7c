"""Signing keys: generation, loading from settings, KMS ECDSA P-256 verified outside moto."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from moto import mock_aws

from auditor.report.bundle import write_bundle
from auditor.report.errors import SigningKeyError
from auditor.report.signing import (
    ECDSA_P256_SHA256,
    Ed25519Signer,
    KmsSigner,
    generate_ed25519_pem,
    key_id_of,
    signer_from_settings,
)
from auditor.report.verify import verify_bundle, verify_chain
from auditor.settings import Settings, SigningConfig
from tests.report.conftest import cli, openssl_bundle_ok
from tests.report.factory import make_input


def _no_kms(region: str | None) -> Any:
    raise AssertionError("no KMS client expected for a local key")


def test_keys_generate_writes_a_0600_pem_and_prints_only_the_key_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`auditor keys generate` creates a private key readable by its owner only; stdout never
    shows the key."""
    key = tmp_path / "signing.key"
    assert 0 == cli(["keys", "generate", "--out", str(key)])
    assert 0o600 == stat.S_IMODE(key.stat().st_mode)
    out = capsys.readouterr().out
    assert "PRIVATE KEY" not in out
    signer = Ed25519Signer.from_pem(key.read_bytes(), "test")
    assert f"key id: {signer.key_id}" in out


def test_keys_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    """An existing key is never silently replaced (that would orphan every signed report)."""
    key = tmp_path / "signing.key"
    key.write_bytes(generate_ed25519_pem())
    before = key.read_bytes()
    with pytest.raises(SigningKeyError, match="refusing to overwrite"):
        cli(["keys", "generate", "--out", str(key)])
    assert before == key.read_bytes()


def test_keys_public_prints_the_pem_of_the_configured_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`auditor keys public` prints the public PEM whose fingerprint is the signer's key id."""
    key = tmp_path / "signing.key"
    key.write_bytes(generate_ed25519_pem())
    key.chmod(0o600)  # as `auditor keys generate` writes it
    monkeypatch.chdir(tmp_path)  # no stray ./auditor.yaml
    monkeypatch.setenv("AUDITOR_SIGNING__KEY_FILE", str(key))
    assert 0 == cli(["keys", "public"])
    captured = capsys.readouterr()
    signer = Ed25519Signer.from_pem(key.read_bytes(), "test")
    assert signer.public_key_pem().decode() == captured.out
    assert signer.key_id in captured.err


def test_key_id_is_the_openssl_der_fingerprint(tmp_path: Path) -> None:
    """The documented fingerprint command gives the key id an auditor compares against."""
    signer = Ed25519Signer.from_pem(generate_ed25519_pem(), "test")
    pub = tmp_path / "pub.pem"
    pub.write_bytes(signer.public_key_pem())
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(pub), "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    import hashlib

    assert f"sha256:{hashlib.sha256(der).hexdigest()}" == signer.key_id


def test_signer_from_settings_reads_the_env_var_before_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """key_env wins over key_file; the PEM never appears in the error of a bad key."""
    pem = generate_ed25519_pem()
    monkeypatch.setenv("SIGNING_PEM", pem.decode())
    settings = Settings(signing=SigningConfig(key_env="SIGNING_PEM", key_file=tmp_path / "none"))
    signer = signer_from_settings(settings, _no_kms)
    assert Ed25519Signer.from_pem(pem, "x").key_id == signer.key_id
    assert "PRIVATE" not in repr(signer)

    monkeypatch.setenv("SIGNING_PEM", "-----BEGIN PRIVATE KEY-----\nnot-a-key-secret\n")
    with pytest.raises(SigningKeyError) as info:
        signer_from_settings(settings, _no_kms)
    assert "not-a-key-secret" not in str(info.value)
    assert "environment variable SIGNING_PEM" in str(info.value)


def test_missing_key_file_says_how_to_create_one(tmp_path: Path) -> None:
    """A missing key is a clear error naming the file and the command that makes one."""
    settings = Settings(signing=SigningConfig(key_file=tmp_path / "absent.key"))
    with pytest.raises(SigningKeyError, match="auditor keys generate --out"):
        signer_from_settings(settings, _no_kms)


@mock_aws
def test_kms_ecdsa_p256_bundle_verifies_with_cryptography_and_openssl(tmp_path: Path) -> None:
    """A bundle signed by kms:Sign (ECDSA_SHA_256, RAW) verifies outside moto: with the
    `cryptography` library over the manifest bytes, with `openssl dgst`, and with auditor."""
    kms = boto3.client("kms", region_name="us-east-1")
    key_arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    regions: list[str | None] = []

    def factory(region: str | None) -> Any:
        regions.append(region)
        return kms

    signer = signer_from_settings(Settings(signing=SigningConfig(kms_key_id=key_arn)), factory)
    assert isinstance(signer, KmsSigner)
    assert ["us-east-1"] == regions
    assert ECDSA_P256_SHA256 == signer.algorithm

    info = write_bundle(make_input(5, with_gap=True), tmp_path, signer)
    manifest = (info.path / "manifest.json").read_bytes()
    sig = (info.path / "manifest.sig").read_bytes()

    der_pub = kms.get_public_key(KeyId=key_arn)["PublicKey"]
    public = serialization.load_der_public_key(der_pub)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(sig, manifest, ec.ECDSA(hashes.SHA256()))  # raises if invalid

    pub = tmp_path / "kms-pub.pem"
    pub.write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert key_id_of(pub.read_bytes()) == json.loads(manifest)["key_id"]
    assert openssl_bundle_ok(info.path, pub)
    assert verify_bundle(info.path, pub.read_bytes()).ok
    assert verify_chain(tmp_path, pub.read_bytes()).ok

    (info.path / "manifest.json").write_bytes(manifest.replace(b'"sequence": 1', b'"sequence": 2'))
    assert not openssl_bundle_ok(info.path, pub)
    assert not verify_bundle(info.path, pub.read_bytes()).ok


@pytest.mark.parametrize(("mode", "warned"), [(0o600, False), (0o640, True), (0o604, True)])
def test_signing_key_readable_by_group_or_others_is_warned(
    tmp_path: Path, mode: int, warned: bool
) -> None:
    """Like ssh, a private key others can read is called out (a warning: the key still
    signs, so a cycle is not lost over a mode bit)."""
    from structlog.testing import capture_logs

    from auditor.report.signing import signer_from_settings
    from auditor.settings import SigningConfig

    key = tmp_path / "signing.key"
    key.write_bytes(generate_ed25519_pem())
    key.chmod(mode)
    with capture_logs() as logs:
        signer_from_settings(Settings(signing=SigningConfig(key_file=key)), lambda region: None)
    events = [e for e in logs if e["event"] == "signing_key_readable_by_others"]
    assert bool(events) is warned
    if warned:
        assert events[0]["mode"] == oct(mode)

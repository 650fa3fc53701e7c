"""Signers: Ed25519 with a local key, or ECDSA P-256 with an AWS KMS asymmetric key.

Both produce signatures stock OpenSSL verifies over the exact manifest bytes:
  Ed25519: openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in manifest.json \
             -sigfile manifest.sig
  ECDSA:   openssl dgst -sha256 -verify pub.pem -signature manifest.sig manifest.json
The private key is read from a file or an environment variable and never logged, stored or
put in an exception message.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from auditor.report.errors import SigningKeyError
from auditor.settings import Settings
from auditor.yamlsafe import read_capped

log = structlog.get_logger("auditor.signing")
MAX_KEY_BYTES = 64 * 1024

ED25519 = "ed25519"
ECDSA_P256_SHA256 = "ecdsa-p256-sha256"
ALGORITHMS = (ED25519, ECDSA_P256_SHA256)
KMS_RAW_LIMIT = 4096  # kms:Sign accepts at most 4096 bytes with MessageType RAW


class Signer(Protocol):
    @property
    def key_id(self) -> str: ...

    @property
    def algorithm(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...

    def public_key_pem(self) -> bytes: ...


def key_id_of(public_key_pem: bytes) -> str:
    """SHA-256 fingerprint of the DER SubjectPublicKeyInfo, as `sha256:<hex>`.

    Same as `openssl pkey -pubin -in pub.pem -outform DER | sha256sum`.
    """
    key = serialization.load_pem_public_key(public_key_pem)
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()


def algorithm_of(public_key_pem: bytes) -> str:
    """The signing algorithm of a public key (Ed25519 or ECDSA P-256); SigningKeyError otherwise."""
    key = serialization.load_pem_public_key(public_key_pem)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ED25519
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return ECDSA_P256_SHA256
    raise SigningKeyError("unsupported public key type: expected Ed25519 or ECDSA P-256")


class Ed25519Signer:
    def __init__(self, private_key: ed25519.Ed25519PrivateKey) -> None:
        self._key = private_key
        self._public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._key_id = key_id_of(self._public_pem)

    def __repr__(self) -> str:  # never show key material
        return f"Ed25519Signer(key_id={self._key_id!r})"

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def algorithm(self) -> str:
        return ED25519

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def public_key_pem(self) -> bytes:
        return self._public_pem

    @classmethod
    def from_pem(cls, pem: bytes, origin: str) -> Ed25519Signer:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            raise SigningKeyError(
                f"{origin}: not an unencrypted PEM private key "
                "(create one with `auditor keys generate`)"
            ) from None
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise SigningKeyError(f"{origin}: expected an Ed25519 private key")
        return cls(key)


class KmsSigner:
    """ECDSA P-256 with SHA-256 by an AWS KMS key (KeySpec ECC_NIST_P256, KeyUsage SIGN_VERIFY).

    KMS returns a DER-encoded ECDSA signature, exactly what `openssl dgst -verify` reads.
    """

    def __init__(self, client: Any, kms_key_id: str) -> None:
        self._client = client
        self._kms_key_id = kms_key_id
        self._public_pem: bytes | None = None

    def __repr__(self) -> str:
        return f"KmsSigner(kms_key_id={self._kms_key_id!r})"

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key_pem())

    @property
    def algorithm(self) -> str:
        return ECDSA_P256_SHA256

    def public_key_pem(self) -> bytes:
        if self._public_pem is None:
            response = self._client.get_public_key(KeyId=self._kms_key_id)
            if response.get("KeySpec") not in (None, "ECC_NIST_P256"):
                raise SigningKeyError(
                    f"KMS key {self._kms_key_id}: expected KeySpec ECC_NIST_P256, "
                    f"found {response.get('KeySpec')}"
                )
            key = serialization.load_der_public_key(response["PublicKey"])
            self._public_pem = key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        return self._public_pem

    def sign(self, data: bytes) -> bytes:
        if len(data) <= KMS_RAW_LIMIT:
            response = self._client.sign(
                KeyId=self._kms_key_id,
                Message=data,
                MessageType="RAW",
                SigningAlgorithm="ECDSA_SHA_256",
            )
        else:  # same signature over the same bytes: KMS signs the SHA-256 digest either way
            response = self._client.sign(
                KeyId=self._kms_key_id,
                Message=hashlib.sha256(data).digest(),
                MessageType="DIGEST",
                SigningAlgorithm="ECDSA_SHA_256",
            )
        return bytes(response["Signature"])


def generate_ed25519_pem() -> bytes:
    """A new Ed25519 private key, PEM (PKCS#8, unencrypted)."""
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private_key(path: Path, pem: bytes, overwrite: bool = False) -> None:
    """Create the key file with 0600 from the first byte (never world-readable, even briefly)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise SigningKeyError(
            f"{path}: already exists; refusing to overwrite a signing key (use --force)"
        ) from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)


KmsClientFactory = Callable[[str | None], Any]  # region (None: the ambient one) -> kms client


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where the signing key comes from, for messages (never the key itself)."""

    kind: str  # "kms", "env", "file"
    name: str


def key_source(settings: Settings) -> KeySource:
    """Where the configured signing key comes from (KMS, environment variable or file)."""
    cfg = settings.signing
    if cfg.kms_key_id:
        return KeySource("kms", cfg.kms_key_id)
    if cfg.key_env:
        return KeySource("env", cfg.key_env)
    if cfg.key_file is not None:
        return KeySource("file", str(cfg.key_file))
    raise SigningKeyError(
        "no signing key configured: set signing.key_file, signing.key_env or signing.kms_key_id"
    )


def signer_from_settings(settings: Settings, kms_client_factory: KmsClientFactory) -> Signer:
    """The configured signer: KMS key, else the PEM in the env var key_env, else key_file."""
    source = key_source(settings)
    if source.kind == "kms":
        return KmsSigner(kms_client_factory(_region_of(source.name)), source.name)
    if source.kind == "env":
        pem = os.environ.get(source.name)
        if not pem:
            raise SigningKeyError(
                f"signing.key_env: environment variable {source.name} is not set or empty"
            )
        return Ed25519Signer.from_pem(pem.encode(), f"environment variable {source.name}")
    path = Path(source.name)
    if not path.exists():
        raise SigningKeyError(
            f"{path}: cannot read signing key (No such file or directory); first run? "
            "`auditor init` writes a config and a key; or create one with "
            f"`auditor keys generate --out {path}`"
        )
    try:
        pem_bytes = read_capped(path, MAX_KEY_BYTES, "signing key")
    except ValueError as exc:
        raise SigningKeyError(str(exc)) from None
    warn_if_exposed(path)
    return Ed25519Signer.from_pem(pem_bytes, str(path))


def warn_if_exposed(path: Path) -> bool:
    """Warn (as ssh does, but without refusing) when group or others may read the key."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    if mode & 0o077:
        log.warning(
            "signing_key_readable_by_others",
            path=str(path),
            mode=oct(mode & 0o777),
            hint=f"chmod 600 {path}",
        )
        return True
    return False


def _region_of(kms_key_id: str) -> str | None:
    """The region inside a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID); else the ambient one."""
    parts = kms_key_id.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[2] == "kms":
        return parts[3] or None
    return None

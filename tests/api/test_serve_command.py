"""Contract: `auditor serve` trusts the configured signer's public key when it can load it."""

from __future__ import annotations

from pathlib import Path

from auditor.commands.serve import trusted_key
from auditor.report.signing import Ed25519Signer, generate_ed25519_pem, write_private_key
from auditor.settings import load_settings


def test_trusted_key_is_the_configured_signers_public_key(tmp_path: Path) -> None:
    """With signing.key_file readable, /verify checks origin against that key."""
    key = tmp_path / "signing.key"
    pem = generate_ed25519_pem()
    write_private_key(key, pem)
    config = tmp_path / "auditor.yaml"
    config.write_text(f"signing: {{key_file: {key}}}\n")
    expected = Ed25519Signer.from_pem(pem, str(key)).public_key_pem()
    assert expected == trusted_key(load_settings(config))


def test_no_signer_means_no_trusted_key(tmp_path: Path) -> None:
    """A missing key file does not stop the server: verify falls back to the embedded key."""
    config = tmp_path / "auditor.yaml"
    config.write_text(f"signing: {{key_file: {tmp_path / 'missing.key'}}}\n")
    assert None is trusted_key(load_settings(config))

"""Tampering with signed bundles is detected by verify_* and by the documented openssl steps,
for a local Ed25519 key and for an AWS KMS ECDSA P-256 key alike.

Each test is named after the attack it guards against.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from auditor.report.bundle import write_bundle
from auditor.report.manifest import MANIFEST, SIGNATURE
from auditor.report.signing import Ed25519Signer, Signer
from auditor.report.verify import verify_bundle, verify_chain
from tests.report.conftest import (
    SIGNER_KINDS,
    ChainFactory,
    cli,
    openssl_bundle_ok,
    openssl_chain_ok,
    signer_of,
)
from tests.report.factory import make_input

FILES = ("report.json", "report.html", "findings.csv", "findings.ocsf.json", MANIFEST, SIGNATURE)


@pytest.fixture(params=SIGNER_KINDS)
def signer(request: pytest.FixtureRequest) -> Iterator[Signer]:
    """Every attack below runs against both kinds of signing key."""
    with signer_of(request.param) as s:
        yield s


def _flip(path: Path, offset_from_middle: int = 0) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 + offset_from_middle
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def test_untouched_bundle_and_chain_verify(make_chain: ChainFactory, pub_pem: Path) -> None:
    """The baseline: what we write verifies, with auditor and with openssl, exit 0."""
    bundles = make_chain(3)
    directory = bundles[0].path.parent
    assert verify_bundle(bundles[1].path, pub_pem.read_bytes()).ok
    result = verify_chain(directory, pub_pem.read_bytes())
    assert result.ok, result.all_problems
    assert [1, 2, 3] == [b.sequence for b in result.bundles]
    assert all(b.trusted_key for b in result.bundles)
    assert openssl_chain_ok(directory, pub_pem)
    assert 0 == cli(["verify", "--key", str(pub_pem), str(directory)])
    assert 0 == cli(["verify", "--key", str(pub_pem), str(bundles[2].path)])


@pytest.mark.parametrize("name", FILES)
def test_one_flipped_byte_in_any_file_is_detected(
    make_chain: ChainFactory, pub_pem: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Flip one bit of one file: verify names the file, openssl fails, the CLI exits 4."""
    (bundle,) = make_chain(1)
    _flip(bundle.path / name)
    result = verify_bundle(bundle.path, pub_pem.read_bytes())
    assert not result.ok
    joined = " | ".join(result.problems)
    if name in (MANIFEST, SIGNATURE):
        assert "manifest.sig does not verify" in joined or "not valid JSON" in joined
    else:
        assert f"{name}: SHA-256 expected" in joined
    assert not openssl_bundle_ok(bundle.path, pub_pem)
    capsys.readouterr()
    assert 4 == cli(["verify", "--key", str(pub_pem), str(bundle.path)])
    assert "FAIL" in capsys.readouterr().out


def test_deleting_a_middle_bundle_is_detected_and_named(
    make_chain: ChainFactory, pub_pem: Path
) -> None:
    """Remove report 2 of 4: the chain breaks at report 3, which names the missing id."""
    bundles = make_chain(4)
    directory = bundles[0].path.parent
    shutil.rmtree(bundles[1].path)
    result = verify_chain(directory, pub_pem.read_bytes())
    assert not result.ok
    assert all(b.ok for b in result.bundles)  # each survivor is itself intact
    (problem,) = result.problems
    assert problem.startswith(
        f"{bundles[2].report_id}: links to previous report {bundles[1].report_id}"
    )
    assert "not in the directory: removed" in problem
    assert not openssl_chain_ok(directory, pub_pem)
    assert 4 == cli(["verify", "--key", str(pub_pem), str(directory)])


def test_deleting_the_first_bundle_is_detected(make_chain: ChainFactory, pub_pem: Path) -> None:
    """The chain must start at sequence 1: removing the oldest report is not silent."""
    bundles = make_chain(3)
    shutil.rmtree(bundles[0].path)
    result = verify_chain(bundles[0].path.parent, pub_pem.read_bytes())
    assert not result.ok
    assert [f"{bundles[1].report_id}: the chain starts at sequence 2; its previous report "
            f"{bundles[0].report_id} is not in {bundles[0].path.parent} (removed?)"] == list(
        result.problems
    )  # fmt: skip


def test_swapping_two_bundles_is_detected(make_chain: ChainFactory, pub_pem: Path) -> None:
    """Swap the contents of two bundle directories: each directory name disagrees with the
    signed report id (the chain's order comes from the signed sequences, so it holds)."""
    bundles = make_chain(3)
    directory = bundles[0].path.parent
    a, b = bundles[0].path, bundles[1].path
    tmp = directory / "swap"
    os.rename(a, tmp)
    os.rename(b, a)
    os.rename(tmp, b)
    result = verify_chain(directory, pub_pem.read_bytes())
    assert not result.ok
    problems = " | ".join(result.all_problems)
    assert (
        f"directory name {a.name!r} does not match the manifest's report_id {b.name!r}" in problems
    )
    assert not openssl_chain_ok(directory, pub_pem)
    assert 4 == cli(["verify", "--key", str(pub_pem), str(directory)])


def test_renaming_bundles_to_reorder_them_is_detected(
    make_chain: ChainFactory, pub_pem: Path
) -> None:
    """Reordering by renaming a newer bundle to sort first breaks the links."""
    bundles = make_chain(3)
    directory = bundles[0].path.parent
    os.rename(bundles[2].path, directory / "00000000T000000Z-ffffffff")
    result = verify_chain(directory, pub_pem.read_bytes())
    assert not result.ok
    assert not openssl_chain_ok(directory, pub_pem)


def test_re_signing_with_another_key_fails_against_the_trusted_key(
    make_chain: ChainFactory, pub_pem: Path
) -> None:
    """An altered report re-hashed and re-signed by an attacker's key verifies against its own
    embedded key, but not against the trusted one: auditor and openssl both say so."""
    (bundle,) = make_chain(1)
    attacker = Ed25519Signer(ed25519.Ed25519PrivateKey.generate())
    import json

    from auditor.model import sha256_hex
    from auditor.report.manifest import manifest_bytes

    report = bundle.path / "report.json"
    original = report.read_bytes()
    altered = original.replace(b'"failed": 6', b'"failed": 0', 1)
    assert original != altered
    report.write_bytes(altered)
    m = json.loads((bundle.path / MANIFEST).read_bytes())
    for f in m["files"]:
        f["sha256"] = sha256_hex((bundle.path / f["name"]).read_bytes())
        f["size"] = (bundle.path / f["name"]).stat().st_size
    m["key_id"] = attacker.key_id
    m["algorithm"] = attacker.algorithm
    m["public_key_pem"] = attacker.public_key_pem().decode()
    raw = manifest_bytes(m)
    (bundle.path / MANIFEST).write_bytes(raw)
    (bundle.path / SIGNATURE).write_bytes(attacker.sign(raw))

    assert verify_bundle(bundle.path).ok  # integrity alone cannot catch this ...
    result = verify_bundle(bundle.path, pub_pem.read_bytes())  # ... the trusted key does
    assert not result.ok
    assert f"found one by {attacker.key_id}" in result.problems[0]
    assert not openssl_bundle_ok(bundle.path, pub_pem)
    assert 4 == cli(["verify", "--key", str(pub_pem), str(bundle.path)])


def test_inserting_a_forged_bundle_is_detected(
    make_chain: ChainFactory, pub_pem: Path, tmp_path: Path
) -> None:
    """A bundle slipped in between two real ones, even correctly linked to its predecessor,
    breaks the next bundle's link; signed by another key it also fails the trusted key."""
    bundles = make_chain(3)
    directory = bundles[0].path.parent
    from auditor.report.manifest import link_of

    attacker = Ed25519Signer(ed25519.Ed25519PrivateKey.generate())
    forged_dir = tmp_path / "forge"
    forged = write_bundle(
        make_input(generated_at=bundles[0].generated_at.replace(minute=30)),
        forged_dir,
        attacker,
        report_id=bundles[0].report_id[:-8] + "ffffffff",  # sorts right after bundle 0
        previous=link_of(bundles[0].path),
    )
    shutil.copytree(forged.path, directory / forged.report_id)
    result = verify_chain(directory, pub_pem.read_bytes())
    assert not result.ok
    problems = " | ".join(result.all_problems)
    assert f"{forged.report_id} was inserted" in problems
    assert not openssl_chain_ok(directory, pub_pem)


def test_a_half_written_bundle_never_looks_complete(
    make_chain: ChainFactory, pub_pem: Path
) -> None:
    """A crash while signing leaves no bundle directory and does not break the chain."""
    bundles = make_chain(2)
    directory = bundles[0].path.parent

    class Crashing(Ed25519Signer):
        def sign(self, data: bytes) -> bytes:
            raise OSError("power cut")

    crashing = Crashing(ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(OSError, match="power cut"):
        write_bundle(make_input(generated_at=bundles[1].generated_at), directory, crashing)
    assert sorted(b.report_id for b in bundles) == sorted(
        p.name for p in directory.iterdir() if not p.name.startswith(".")
    )
    assert verify_chain(directory, pub_pem.read_bytes()).ok


def test_a_bundle_without_signature_fails_verification(
    make_chain: ChainFactory, pub_pem: Path
) -> None:
    """Deleting manifest.sig (or an interrupted copy) is invalid, never 'unsigned but fine'."""
    (bundle,) = make_chain(1)
    (bundle.path / SIGNATURE).unlink()
    result = verify_bundle(bundle.path, pub_pem.read_bytes())
    assert ["manifest.sig is missing: the bundle was never completed, or its signature was removed"] == list(result.problems)  # fmt: skip


def test_an_extra_file_in_a_bundle_is_detected(make_chain: ChainFactory, pub_pem: Path) -> None:
    """A file added to a bundle after signing is reported by name."""
    (bundle,) = make_chain(1)
    (bundle.path / "note.txt").write_text("trust me")
    result = verify_bundle(bundle.path, pub_pem.read_bytes())
    assert ["note.txt: present in the bundle but not listed in the manifest"] == list(
        result.problems
    )


def test_key_change_mid_chain_without_trusted_key_is_flagged(make_chain: ChainFactory) -> None:
    """Without --key, a signer change mid-chain is not silently accepted; with both keys
    trusted (a deliberate rotation) the chain verifies."""
    bundles = make_chain(2)
    directory = bundles[0].path.parent
    other = Ed25519Signer(ed25519.Ed25519PrivateKey.generate())
    write_bundle(
        make_input(generated_at=bundles[1].generated_at.replace(hour=20)), directory, other
    )
    result = verify_chain(directory)
    assert not result.ok
    assert "pass --key for every trusted key to accept a key rotation" in result.problems[0]
    assert verify_chain(directory, [_pub(bundles[0].path), other.public_key_pem()]).ok


def _pub(bundle: Path) -> bytes:
    import json

    return str(json.loads((bundle / MANIFEST).read_bytes())["public_key_pem"]).encode()

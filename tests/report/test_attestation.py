"""Attestations: an unchanged cycle appends a small signed link instead of a full bundle.

The chain stays verifiable end to end, by `auditor verify` and by the openssl procedure;
a change of findings or coverage writes a full bundle again; an attestation that lies
about its state, or is altered, fails verification.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from auditor.report.attestation import ATTESTATION, write_attestation_if_unchanged
from auditor.report.bundle import write_bundle
from auditor.report.signing import Ed25519Signer
from auditor.report.verify import verify_bundle, verify_chain
from tests.report.conftest import cli, openssl_bundle_ok, openssl_chain_ok
from tests.report.factory import NOW, make_input

HOUR = timedelta(hours=1)


def _cycle(out: Path, signer: Ed25519Signer, i: int, **kw: object) -> Path:
    """What the pipeline does: an attestation if unchanged, else a full bundle."""
    data = make_input(generated_at=NOW + i * HOUR, snapshot_id=f"snap-{i}", **kw)  # type: ignore[arg-type]
    info = write_attestation_if_unchanged(data, out, signer)
    if info is None:
        info = write_bundle(data, out, signer)
    return info.path


def test_unchanged_cycles_append_small_attestations_that_verify(
    tmp_path: Path, signer: Ed25519Signer, pub_pem: Path
) -> None:
    """report, attestation, attestation: each link under 4 KB, the chain verifies with
    `auditor verify` and with stock openssl; each attestation names the full report."""
    out = tmp_path / "reports"
    paths = [_cycle(out, signer, i) for i in range(3)]

    assert (paths[0] / "report.json").is_file()
    for p in paths[1:]:
        assert [ATTESTATION, "manifest.json", "manifest.sig"] == sorted(x.name for x in p.iterdir())
        assert sum(x.stat().st_size for x in p.iterdir()) < 4096
        body = json.loads((p / ATTESTATION).read_bytes())
        assert paths[0].name == body["unchanged_since"]["report_id"]
        assert body["snapshot"]["id"].startswith("snap-")
        assert openssl_bundle_ok(p, pub_pem)
    chain = verify_chain(out, signer.public_key_pem())
    assert chain.ok, chain.all_problems
    assert [1, 2, 3] == [b.sequence for b in chain.bundles]
    assert openssl_chain_ok(out, pub_pem)
    assert 0 == cli(["verify", str(out), "--key", str(pub_pem)])


def test_a_change_of_findings_or_coverage_writes_a_full_bundle(
    tmp_path: Path, signer: Ed25519Signer
) -> None:
    """Fewer findings, then a collection gap: both are full bundles; the chain verifies."""
    out = tmp_path / "reports"
    first = _cycle(out, signer, 0)
    fewer = _cycle(out, signer, 1, n_findings=5)
    gap = _cycle(out, signer, 2, n_findings=5, with_gap=True)
    same = _cycle(out, signer, 3, n_findings=5, with_gap=True)
    assert all((p / "report.json").is_file() for p in (first, fewer, gap))
    assert (same / ATTESTATION).is_file()
    assert verify_chain(out, signer.public_key_pem()).ok


def test_an_altered_attestation_fails(tmp_path: Path, signer: Ed25519Signer) -> None:
    """Changing attestation.json breaks its hash; a re-signed attestation whose state is not
    its report's is caught by the chain check."""
    out = tmp_path / "reports"
    _cycle(out, signer, 0)
    att = _cycle(out, signer, 1)
    body = att / ATTESTATION
    body.write_bytes(body.read_bytes().replace(b"snap-1", b"snap-9"))
    result = verify_bundle(att, signer.public_key_pem())
    assert not result.ok
    assert any(ATTESTATION in p for p in result.problems)


def test_an_attestation_claiming_another_state_breaks_the_chain(
    tmp_path: Path, signer: Ed25519Signer
) -> None:
    """Forged: an attestation re-signed (with the real key) over a different state hash."""
    from auditor.report.manifest import manifest_bytes

    out = tmp_path / "reports"
    _cycle(out, signer, 0)
    att = _cycle(out, signer, 1)
    m = json.loads((att / "manifest.json").read_bytes())
    body = json.loads((att / ATTESTATION).read_bytes())
    m["state_sha256"] = body["state_sha256"] = "0" * 64
    raw_body = (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()
    (att / ATTESTATION).write_bytes(raw_body)
    import hashlib

    m["files"] = [
        {"name": ATTESTATION, "sha256": hashlib.sha256(raw_body).hexdigest(), "size": len(raw_body)}
    ]
    raw = manifest_bytes(m)
    (att / "manifest.json").write_bytes(raw)
    (att / "manifest.sig").write_bytes(signer.sign(raw))
    assert verify_bundle(att, signer.public_key_pem()).ok
    chain = verify_chain(out, signer.public_key_pem())
    assert not chain.ok
    assert any("differs from report" in p for p in chain.problems)

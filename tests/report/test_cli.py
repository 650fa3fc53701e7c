"""`auditor verify` and the report chain (with S3) as an operator uses them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from auditor.aws import AwsSessions
from auditor.model import FixedClock
from auditor.report.chain import Published, ReportChain
from auditor.report.signing import Ed25519Signer, generate_ed25519_pem
from auditor.report.verify import verify_chain
from auditor.settings import ReportsConfig, S3ReportConfig, Settings
from auditor.store import Store
from tests.report.conftest import ChainFactory, cli
from tests.report.factory import NOW, make_input


def test_verify_without_a_trusted_key_warns_and_require_key_fails(
    make_chain: ChainFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No --key and no configured key: integrity is checked, the user is told origin was not;
    --require-key makes that exit 4."""
    bundles = make_chain(2)
    monkeypatch.chdir(bundles[0].path.parent.parent)  # no auditor.yaml, no signing key here
    directory = str(bundles[0].path.parent)
    capsys.readouterr()
    assert 0 == cli(["verify", directory])
    err = capsys.readouterr().err
    assert "proves integrity but not origin" in err
    assert 4 == cli(["verify", "--require-key", directory])


def test_verify_uses_the_configured_signing_key_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where the operator runs it, the configured key is the trusted key: a bundle signed by
    another key fails without any --key."""
    key = tmp_path / "signing.key"
    key.write_bytes(generate_ed25519_pem())
    key.chmod(0o600)  # as `auditor keys generate` writes it
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUDITOR_SIGNING__KEY_FILE", str(key))
    from auditor.report.bundle import write_bundle

    mine = write_bundle(make_input(), tmp_path / "r", Ed25519Signer.from_pem(key.read_bytes(), "k"))
    capsys.readouterr()
    assert 0 == cli(["verify", "--json", str(mine.path)])
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is True
    assert out["trusted_key"].startswith("configured signer (file ")

    other = write_bundle(
        make_input(generated_at=NOW + timedelta(hours=1)),
        tmp_path / "other",
        Ed25519Signer.from_pem(generate_ed25519_pem(), "k2"),
    )
    assert 4 == cli(["verify", str(other.path)])
    assert "expected a signature by the trusted key" in capsys.readouterr().out


@mock_aws
def test_the_chain_writes_locally_then_to_locked_s3_and_chains_from_s3(tmp_path: Path) -> None:
    """A published report is written locally and uploaded; a replaced machine (new disk, new
    store) links its next report to the newest bundle in S3."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="audit", ObjectLockEnabledForBucket=True)
    signer = Ed25519Signer.from_pem(generate_ed25519_pem(), "k")
    clock = FixedClock(NOW)

    def publish(machine: str, at: timedelta) -> Published:
        settings = Settings(
            reports=ReportsConfig(
                dir=tmp_path / machine,
                s3=S3ReportConfig(bucket="audit", prefix="prod", object_lock_days=30),
            ),
        )
        store = Store.open(f"sqlite:///{tmp_path / machine}.db")
        try:
            with ReportChain(store, settings, AwsSessions(), clock, signer).locked() as chain:
                return chain.publish(make_input(generated_at=NOW + at))
        finally:
            store.close()

    first = publish("one", timedelta(0))
    assert f"s3://audit/prod/{first.bundle.report_id}/" == first.s3_url
    second = publish("two", timedelta(minutes=15))
    assert first.bundle.manifest_sha256 == second.bundle.previous_manifest_sha256
    assert 2 == second.bundle.sequence

    from auditor.report.storage import S3ReportStore

    store = S3ReportStore(s3, "audit", "prod", 0, clock)
    fetched = tmp_path / "fetched"
    for item in store.list():
        store.get(item.report_id, fetched)
    assert verify_chain(fetched, signer.public_key_pem()).ok

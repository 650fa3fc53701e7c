"""`auditor verify` and publish_report as an operator uses them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from auditor.aws import AwsSessions
from auditor.model import FixedClock
from auditor.report.publish import publish_report
from auditor.report.signing import Ed25519Signer, generate_ed25519_pem
from auditor.report.verify import verify_chain
from auditor.settings import ReportsConfig, S3ReportConfig, Settings, SigningConfig
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
def test_publish_report_writes_locally_then_to_locked_s3_and_chains_from_s3(
    tmp_path: Path,
) -> None:
    """publish_report signs with the configured key, writes the local bundle and uploads it;
    the next report links to the newest bundle in S3 even when the local disk was wiped."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="audit", ObjectLockEnabledForBucket=True)
    key = tmp_path / "signing.key"
    key.write_bytes(generate_ed25519_pem())
    settings = Settings(
        reports=ReportsConfig(
            dir=tmp_path / "one",
            s3=S3ReportConfig(bucket="audit", prefix="prod", object_lock_days=30),
        ),
        signing=SigningConfig(key_file=key),
    )
    clock = FixedClock(NOW)
    first = publish_report(make_input(), settings, AwsSessions(), clock)
    assert f"s3://audit/prod/{first.bundle.report_id}/" == first.s3_url

    wiped = settings.model_copy(
        update={"reports": settings.reports.model_copy(update={"dir": tmp_path / "two"})}
    )
    second = publish_report(
        make_input(generated_at=NOW + timedelta(minutes=15)), wiped, AwsSessions(), clock
    )
    assert first.bundle.manifest_sha256 == second.bundle.previous_manifest_sha256
    assert 2 == second.bundle.sequence

    from auditor.report.storage import S3ReportStore

    store = S3ReportStore(s3, "audit", "prod", 0, clock)
    fetched = tmp_path / "fetched"
    for item in store.list():
        store.get(item.report_id, fetched)
    pub = Ed25519Signer.from_pem(key.read_bytes(), "k").public_key_pem()
    assert verify_chain(fetched, pub).ok

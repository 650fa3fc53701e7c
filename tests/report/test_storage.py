"""Storage: local listing, S3 with Object Lock (compliance mode), signature uploaded last."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auditor.model import FixedClock
from auditor.report.errors import StorageError
from auditor.report.storage import LocalReportStore, S3ReportStore, trend_from_dir
from auditor.report.verify import verify_chain
from tests.report.conftest import ChainFactory, cli
from tests.report.factory import NOW


class RecordingS3:
    """A real (moto) S3 client that remembers the order of put_object keys."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.puts: list[dict[str, Any]] = []

    def put_object(self, **kwargs: Any) -> Any:
        self.puts.append(kwargs)
        return self._client.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _bucket(locked: bool) -> Any:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="audit-reports", ObjectLockEnabledForBucket=locked)
    return s3


@mock_aws
def test_s3_upload_locks_every_object_in_compliance_mode_signature_last(
    make_chain: ChainFactory, tmp_path: Path, pub_pem: Path
) -> None:
    """Every object is COMPLIANCE-locked until now + object_lock_days; manifest.sig is the
    last put; the bundle round-trips through S3 and still verifies."""
    s3 = RecordingS3(_bucket(locked=True))
    store = S3ReportStore(s3, "audit-reports", "prod/", 400, FixedClock(NOW))
    bundles = make_chain(2)
    for b in bundles:
        store.upload(b.path)

    first = [p["Key"].rsplit("/", 1)[-1] for p in s3.puts[:6]]
    assert "manifest.sig" == first[-1]
    assert {"COMPLIANCE"} == {p["ObjectLockMode"] for p in s3.puts}
    assert {NOW + timedelta(days=400)} == {p["ObjectLockRetainUntilDate"] for p in s3.puts}
    head = s3.head_object(Bucket="audit-reports", Key=f"prod/{bundles[0].report_id}/report.json")
    assert "COMPLIANCE" == head["ObjectLockMode"]

    listed = store.list()
    assert [b.report_id for b in bundles] == [i.report_id for i in listed]
    assert [1, 2] == [i.sequence for i in listed]
    link = store.latest_link()
    assert link is not None
    assert bundles[1].report_id == link.report_id

    out = tmp_path / "fetched"
    for b in bundles:
        store.get(b.report_id, out)
    assert verify_chain(out, pub_pem.read_bytes()).ok


@mock_aws
def test_s3_without_object_lock_is_refused(make_chain: ChainFactory) -> None:
    """Retention was asked for but the bucket cannot enforce it: nothing is uploaded."""
    s3 = RecordingS3(_bucket(locked=False))
    store = S3ReportStore(s3, "audit-reports", "", 30, FixedClock(NOW))
    (bundle,) = make_chain(1)
    with pytest.raises(StorageError, match="Object Lock"):
        store.upload(bundle.path)
    assert [] == s3.puts


@mock_aws
def test_s3_listing_shows_an_interrupted_upload_as_incomplete(make_chain: ChainFactory) -> None:
    """A bundle whose signature never arrived is listed as incomplete, never as a report."""
    s3 = _bucket(locked=True)
    (bundle,) = make_chain(1)
    for name in ("report.json", "manifest.json"):
        s3.put_object(
            Bucket="audit-reports", Key=f"{bundle.report_id}/{name}",
            Body=(bundle.path / name).read_bytes(),
        )  # fmt: skip
    store = S3ReportStore(s3, "audit-reports", "", 0, FixedClock(NOW))
    (item,) = store.list()
    assert item.complete is False
    assert store.latest_link() is None


def test_local_list_and_get(
    make_chain: ChainFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`auditor reports list` shows each bundle with its headline numbers; `get` finds one."""
    bundles = make_chain(2)
    directory = bundles[0].path.parent
    monkeypatch.chdir(directory.parent)
    monkeypatch.setenv("AUDITOR_REPORTS__DIR", str(directory))
    capsys.readouterr()
    assert 0 == cli(["reports", "list", "--source", "local"])
    lines = capsys.readouterr().out.splitlines()
    assert [b.report_id for b in bundles] == [line.split()[0] for line in lines]
    assert "#2" in lines[1]
    assert 0 == cli(["reports", "get", bundles[0].report_id])
    assert str(bundles[0].path) == capsys.readouterr().out.strip()
    with pytest.raises(StorageError, match="no report"):
        LocalReportStore(directory).get("../etc")


def test_trend_comes_from_previous_manifests(make_chain: ChainFactory) -> None:
    """The trend chart's points are read from the small signed manifests, oldest first."""
    bundles = make_chain(3)
    points = trend_from_dir(bundles[0].path.parent)
    assert [b.generated_at for b in bundles] == [p.generated_at for p in points]
    assert {6} == {p.failed for p in points}

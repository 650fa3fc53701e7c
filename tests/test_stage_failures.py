"""A crash in a stage after collection still ends the cycle with a report that says so.

The crashed stage is a coverage gap (`auditor:<stage>`, exit 3); a judging stage fails
closed (every open finding stays, as unknown, with its first-seen date); an acting stage
(alert planning) hides nothing. The next cycle is back to normal and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auditor.aws import AwsSessions
from auditor.errors import ExitCode
from auditor.model import FixedClock, Severity, Status
from auditor.pipeline import CycleOptions, CycleResult, judge, run_cycle, values
from auditor.report.signing import generate_ed25519_pem, write_private_key
from auditor.settings import Settings
from auditor.store import Store
from tests.conftest import NOW

REGION = "us-east-1"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    key = tmp_path / "signing.key"
    write_private_key(key, generate_ed25519_pem())
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        ec2.create_key_pair(KeyName="stage-ops")
        image = ec2.register_image(Name="base", RootDeviceName="/dev/xvda")["ImageId"]
        ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, KeyName="stage-ops")
        yield Settings(
            regions=[REGION],  # type: ignore[arg-type]
            services=["ec2"],  # type: ignore[arg-type]
            store=f"sqlite:///{tmp_path / 'auditor.db'}",
            reports={"dir": str(tmp_path / "reports"), "formats": ["json"]},  # type: ignore[arg-type]
            signing={"key_file": str(key)},  # type: ignore[arg-type]
        )


class Cycles:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.n = 0

    def run(self, **options: Any) -> CycleResult:
        self.n += 1
        clock = FixedClock(NOW + timedelta(minutes=15 * self.n))
        sessions = AwsSessions(base=boto3.Session(region_name=REGION))
        return run_cycle(
            self.settings, clock=clock, sessions=sessions, options=CycleOptions(**options)
        )

    def open_findings(self) -> dict[str, Any]:
        store = Store.open(self.settings.store)
        try:
            return dict(store.open_findings())
        finally:
            store.close()


def _boom(*_: object, **__: object) -> Any:
    raise TypeError("a bug in a stage")


def test_an_evaluation_crash_is_a_gap_and_resolves_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    cycles = Cycles(settings)
    first = cycles.run()
    before = cycles.open_findings()
    assert any(t.finding.status is Status.FAIL for t in before.values())

    with monkeypatch.context() as patch:
        patch.setattr(judge, "evaluate", _boom)
        crashed = cycles.run()
    assert crashed.exit_code(Severity.CRITICAL) is ExitCode.INCOMPLETE
    assert crashed.delta.resolved == ()
    assert crashed.report_dir is not None
    report = json.loads((crashed.report_dir / "report.json").read_text())
    assert report["coverage"]["complete"] is False
    assert {g["operation"] for g in report["coverage"]["gaps"]} == {"auditor:evaluate"}
    assert {g["error_code"] for g in report["coverage"]["gaps"]} == {"TypeError"}
    after = cycles.open_findings()
    assert {i: (t.finding.status, t.first_seen) for i, t in after.items()} == {
        i: (Status.UNKNOWN, t.first_seen) for i, t in before.items()
    }

    recovered = cycles.run()
    assert (recovered.snapshot.gaps, recovered.delta.new, recovered.delta.resolved) == ((), (), ())
    assert {i: t.first_seen for i, t in cycles.open_findings().items()} == {
        i: t.first_seen for i, t in before.items()
    }
    assert first.report_dir != recovered.report_dir


def test_an_alert_planning_crash_is_recorded_but_hides_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    cycles = Cycles(settings)
    cycles.run()
    with monkeypatch.context() as patch:
        patch.setattr(values, "plan_messages", _boom)
        crashed = cycles.run(transport=_Capture())
    assert crashed.exit_code(Severity.CRITICAL) is ExitCode.INCOMPLETE
    assert {g.operation for g in crashed.snapshot.gaps} == {"auditor:alerts"}
    assert {f.status for f in crashed.evaluation.findings} == {Status.FAIL}
    assert crashed.report_dir is not None


class _Capture:
    """A notify transport that accepts everything (alerting is on, nothing leaves)."""

    def send(self, *_: object, **__: object) -> Any:
        raise AssertionError("nothing should be delivered when planning crashed")

"""Contract: what the web app decides reaches the next cycle. An exemption approved by a
second person applies from the next cycle and is in the signed report (a pending one is not);
the audit log of mutating requests is in the next report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from moto import mock_aws

from auditor.model import Status, SystemClock
from auditor.pipeline import CycleOptions, run_cycle
from auditor.report.signing import generate_ed25519_pem, write_private_key
from auditor.settings import Settings
from auditor.store import Store, webapp


def test_approved_exemption_and_audit_log_reach_the_signed_report(tmp_path: Path) -> None:
    write_private_key(tmp_path / "k.pem", generate_ed25519_pem())
    settings = Settings(
        regions=("us-east-1",),
        services=("ec2",),  # type: ignore[arg-type]
        store=f"sqlite:///{tmp_path / 'a.db'}",
        reports={"dir": tmp_path / "reports"},  # type: ignore[arg-type]
        signing={"key_file": tmp_path / "k.pem"},  # type: ignore[arg-type]
        remediation={"mode": "off"},  # type: ignore[arg-type]
    )
    now = datetime.now(UTC)
    store = Store.open(settings.store)
    with store.engine.begin() as conn:
        for rule, by in (("ec2.imdsv2_required", "bob"), ("ec2.max_age", None)):
            rid = webapp.add_exemption_request(
                conn,
                {"rule": rule, "resource": "arn:aws:ec2:*:*:instance/*", "account": None,
                 "reason": "legacy agents", "owner": "team-x",
                 "expires": now.date() + timedelta(days=30), "requested_by": "alice",
                 "requested_at": now},
            )  # fmt: skip
            if by:
                webapp.decide_exemption_request(conn, rid, webapp.APPROVED, by, now)
        webapp.append_audit(conn, now, "bob", "operator", "POST", "/exemptions/1/approve", 303)
    try:
        with mock_aws():
            boto3.client("ec2", region_name="us-east-1").run_instances(
                ImageId="ami-12c6146b", MinCount=1, MaxCount=1
            )
            result = run_cycle(
                settings, clock=SystemClock(), store=store, options=CycleOptions(send_alerts=False)
            )
    finally:
        store.close()

    statuses = {f.rule_id: f.status for f in result.evaluation.findings}
    assert Status.EXEMPT == statuses["ec2.imdsv2_required"]
    assert result.report_dir is not None
    report = json.loads((result.report_dir / "report.json").read_text())
    in_force = report["exemptions"]["in_force"]
    assert ["web:1 (requested by alice, approved by bob)"] == [e["source"] for e in in_force]
    assert [("bob", "POST", "/exemptions/1/approve", 303)] == [
        (e["actor"], e["method"], e["path"], e["status"]) for e in report["audit_log"]
    ]

"""report.json: the schema contract, scores that never count unknown as passing, coverage."""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.model import Finding, ResourceRef, Severity, Status
from auditor.report.assets import reports_dir
from auditor.report.bundle import write_bundle
from auditor.report.document import report_document
from auditor.report.input import ReportInput
from auditor.report.signing import Ed25519Signer
from tests.report.factory import make_input


@cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((reports_dir() / "report.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def validate(report: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(
        _schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(report)


@pytest.mark.parametrize(
    ("n", "with_gap"), [(0, False), (6, False), (6, True), (40, True)], ids=str
)
def test_generated_reports_validate_against_the_schema(
    tmp_path: Path, signer: Ed25519Signer, n: int, with_gap: bool
) -> None:
    """Every bundle's report.json, as written to disk, is a valid auditor.report/v1 document."""
    info = write_bundle(make_input(n, with_gap=with_gap), tmp_path, signer)
    report = json.loads((info.path / "report.json").read_bytes())
    validate(report)
    assert "auditor.report/v1" == report["schema"]
    assert info.report_id == report["report_id"]


def test_schema_rejects_a_report_claiming_complete_coverage_with_gaps() -> None:
    """The schema itself ties `complete` to the gap list: a report cannot hide a gap."""
    report = report_document(make_input(3, with_gap=True), "20261122T120000Z-0000abcd")
    report["coverage"]["complete"] = True
    with pytest.raises(jsonschema.ValidationError) as caught:
        validate(report)
    assert "coverage" in list(caught.value.absolute_path)


def test_unknown_findings_are_not_counted_as_passing() -> None:
    """A gap's unknown result lowers the score; it is never a pass."""
    data = make_input(0, with_gap=True)
    report = report_document(data, "20261122T120000Z-0000abcd")
    rule = next(r for r in report["rules"] if r["id"] == "ecs.task_definition_secrets_in_env")
    assert (11, 10, 1, 0) == (rule["evaluated"], rule["passed"], rule["unknown"], rule["failed"])
    assert round(10 / 11, 4) == rule["score"]
    assert 1 == report["summary"]["unknown"]
    assert report["summary"]["passed"] == report["summary"]["evaluated"] - 1


def test_score_is_na_when_nothing_could_be_scored() -> None:
    """Nothing evaluated is 'n/a' (null), never 100%."""
    data = make_input(0)
    empty = ReportInput(**{**_fields(data), "evaluation": data.evaluation.__class__(
        data.evaluation.snapshot_id, data.evaluation.evaluated_at, (), ())})  # fmt: skip
    report = report_document(empty, "20261122T120000Z-0000abcd")
    assert report["summary"]["score"] is None
    assert report["scores"]["overall"] is None


def _fields(data: ReportInput) -> dict[str, Any]:
    return {name: getattr(data, name) for name in data.__dataclass_fields__}


def test_framework_controls_and_accounts_are_scored() -> None:
    """Each framework control aggregates the rules mapped to it; accounts get their own score."""
    report = report_document(make_input(6), "20261122T120000Z-0000abcd")
    nist = next(f for f in report["scores"]["frameworks"] if f["framework"] == "NIST 800-53")
    cm2 = next(c for c in nist["controls"] if c["control"] == "CM-2")
    assert ["ec2.max_age", "ec2.ssh_keypair_attached"] == cm2["rules"]
    assert 6 + 20 == cm2["evaluated"]
    assert 6 == cm2["failed"]
    assert ["NIST 800-53", "CIS", "PCI DSS v4", "SOC 2"] == [
        f["framework"] for f in report["scores"]["frameworks"]
    ]
    accounts = {a["account"]: a for a in report["scores"]["accounts"]}
    assert {"111111111111", "222222222222"} == set(accounts)
    assert 3 == accounts["111111111111"]["failed"]
    assert round(17 / 20, 4) == accounts["111111111111"]["score"]


def test_findings_carry_history_delta_exemptions_and_actions() -> None:
    """first/last seen from the delta, new vs resolved, exemptions in force and expired, actions."""
    data = make_input(6)
    report = report_document(data, "20261122T120000Z-0000abcd")
    first = report["findings"][0]
    assert "2026-11-19T12:00:00+00:00" == first["first_seen"]
    assert "2026-11-22T12:00:00+00:00" == first["last_seen"]
    assert len(data.delta.new) == len(report["delta"]["new"])
    assert 1 == len(report["delta"]["resolved"])
    assert ["team-batch"] == [e["owner"] for e in report["exemptions"]["in_force"]]
    assert ["team-x"] == [e["owner"] for e in report["exemptions"]["expired"]]
    acted = [f for f in report["findings"] if f["remediation"]]
    assert ["terminate_instance"] == [f["remediation"]["action"] for f in acted]


def test_secret_looking_evidence_is_redacted() -> None:
    """A value under a secret-looking key never reaches the report, only a short hash."""
    data = make_input(0)
    leaky = Finding(
        rule_id="ec2.ssh_keypair_attached",
        severity=Severity.HIGH,
        status=Status.FAIL,
        resource=ResourceRef(
            "arn:aws:ec2:us-east-1:111111111111:instance/i-1",
            "i-1",
            "ec2.instance",
            "111111111111",
            "us-east-1",
        ),
        message="m",
        evidence={"env": {"DB_PASSWORD": "hunter2-very-secret"}, "key_name": "deploy"},
    )
    evaluation = data.evaluation.__class__(
        data.evaluation.snapshot_id, data.evaluation.evaluated_at, (leaky,), ()
    )
    report = report_document(ReportInput(**{**_fields(data), "evaluation": evaluation}), "x")
    text = json.dumps(report)
    assert "hunter2-very-secret" not in text
    assert report["findings"][0]["evidence"]["env"]["DB_PASSWORD"].startswith("[redacted]")
    assert "deploy" == report["findings"][0]["evidence"]["key_name"]


def test_a_cycle_with_a_gap_says_so_in_json_html_and_csv(
    tmp_path: Path, signer: Ed25519Signer
) -> None:
    """Coverage is incomplete in all three human/machine formats, naming the gap."""
    info = write_bundle(make_input(4, with_gap=True), tmp_path, signer)
    report = json.loads((info.path / "report.json").read_bytes())
    assert report["coverage"]["complete"] is False
    assert ["ecs:ListTaskDefinitions"] == [g["operation"] for g in report["coverage"]["gaps"]]

    html = (info.path / "report.html").read_text()
    assert 'id="coverage-status" data-complete="false"' in html
    assert "ecs:ListTaskDefinitions" in html
    assert "NOT counted as passing" in html

    rows = list(csv.DictReader(io.StringIO((info.path / "findings.csv").read_text())))
    gaps = [r for r in rows if r["record"] == "gap"]
    assert [("222222222222", "eu-west-1", "ecs", "unknown")] == [
        (g["account"], g["region"], g["gap_service"], g["status"]) for g in gaps
    ]
    assert {"false"} == {r["coverage_complete"] for r in rows}
    assert 1 == sum(r["status"] == "unknown" and r["record"] == "finding" for r in rows)


def test_csv_has_one_row_per_finding_and_neutralises_formulas(
    tmp_path: Path, signer: Ed25519Signer
) -> None:
    """One row per finding; a cell that a spreadsheet would run as a formula is quoted."""
    info = write_bundle(make_input(7), tmp_path, signer)
    rows = list(csv.DictReader(io.StringIO((info.path / "findings.csv").read_text())))
    assert 7 == len(rows)
    assert {"finding"} == {r["record"] for r in rows}
    from auditor.report.csv_export import _safe

    assert "'=HYPERLINK(1)" == _safe("=HYPERLINK(1)")


def test_ocsf_export_is_compliance_finding_class(tmp_path: Path, signer: Ed25519Signer) -> None:
    """OCSF events are class 2003 with compliance status; unknown is never Pass."""
    info = write_bundle(make_input(3, with_gap=True), tmp_path, signer)
    events = json.loads((info.path / "findings.ocsf.json").read_bytes())
    assert 4 == len(events)
    assert {2003} == {e["class_uid"] for e in events}
    assert {200301} == {e["type_uid"] for e in events}
    statuses = sorted((e["unmapped"]["auditor_status"], e["compliance"]["status"]) for e in events)
    assert [
        ("fail", "Fail"),
        ("fail", "Fail"),
        ("fail", "Fail"),
        ("unknown", "Unknown"),
    ] == statuses
    high = next(e for e in events if e["compliance"]["control"] == "ec2.ssh_keypair_attached")
    assert 4 == high["severity_id"]
    assert "NIST 800-53 CM-2" in high["compliance"]["requirements"]


def test_html_escapes_untrusted_text(tmp_path: Path, signer: Ed25519Signer) -> None:
    """Resource names and messages come from AWS: they are escaped, never run as markup."""
    data = make_input(0)
    hostile = Finding(
        rule_id="ec2.ssh_keypair_attached",
        severity=Severity.HIGH,
        status=Status.FAIL,
        resource=ResourceRef(
            "arn:aws:ec2:us-east-1:111111111111:instance/i-1",
            "<script>alert(1)</script>",
            "ec2.instance",
            "111111111111",
            "us-east-1",
        ),
        message="<img src=x onerror=alert(2)>",
        evidence={},
    )
    evaluation = data.evaluation.__class__(
        data.evaluation.snapshot_id, data.evaluation.evaluated_at, (hostile,), ()
    )
    info = write_bundle(
        ReportInput(**{**_fields(data), "evaluation": evaluation}), tmp_path, signer
    )
    html = (info.path / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html

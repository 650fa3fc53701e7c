"""Config file + environment -> one frozen Settings; bad input names file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from auditor.errors import ExitCode
from auditor.model import Service
from auditor.settings import ConfigError, load_settings, secret_from


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "auditor.yaml"
    path.write_text(text)
    return path


def test_defaults_are_safe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no file: every service, dry-run remediation, local SQLite, local reports."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None)
    assert settings.services == (Service.EC2, Service.ECS, Service.EKS, Service.ECR)
    assert settings.remediation.mode == "dry-run"
    assert settings.store == "sqlite:///auditor.db"
    assert settings.regions == ()


def test_full_example_from_design_loads(tmp_path: Path) -> None:
    """The example config in DESIGN.md is valid as written."""
    path = write(
        tmp_path,
        """
accounts: [{id: "123456789012", role_arn: "arn:aws:iam::123456789012:role/auditor"}]
regions: [us-east-1, eu-west-1]
services: [ec2, ecs, eks, ecr]
store: sqlite:///auditor.db
schedule: {scan: "every 15m"}
rules: {paths: [], params: {ec2.max_age: {days: 14}}, disabled: []}
exemptions: [{rule: ec2.max_age, resource: "arn:aws:ec2:*:*:instance/i-0abc*", reason: "batch",
              owner: "team-x", expires: 2027-01-31}]
iac: {terraform_states: ["s3://tf-state/prod/*.tfstate", "./infra/terraform.tfstate"]}
reports: {dir: ./reports, formats: [json, html, csv, ocsf], s3: {bucket: "", prefix: "", object_lock_days: 0}}
signing: {key_file: ./auditor-signing.key}
slack: {webhook_url_env: AUDITOR_SLACK_WEBHOOK, min_severity: high, routes: []}
remediation: {mode: dry-run, rules: [], max_actions_per_cycle: 5, max_percent_per_group: 10,
              min_consecutive_cycles: 2, windows: []}
api: {listen: "127.0.0.1:8080"}
metrics: {listen: "127.0.0.1:9464"}
""",
    )
    settings = load_settings(path)
    assert settings.accounts[0].role_arn == "arn:aws:iam::123456789012:role/auditor"
    assert settings.rules.params == {"ec2.max_age": {"days": 14}}
    assert str(settings.exemptions[0].expires) == "2027-01-31"
    assert settings.regions == ("us-east-1", "eu-west-1")


def test_every_problem_named_with_line(tmp_path: Path) -> None:
    """Unknown keys and bad values: one line each with file:line and the dotted key."""
    path = write(
        tmp_path,
        """accounts:
  - id: "12345"
schedule:
  scan: sometimes
reports:
  dri: ./x
remediation: {mode: yolo}
""",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    lines = str(info.value).splitlines()
    assert lines == [
        f"{path}:2: accounts.0.id: String should match pattern '^\\d{{12}}$'",
        f"{path}:4: schedule.scan: Value error, expected 'every <N><s|m|h|d>' or a 5-field cron expression",
        f"{path}:6: reports.dri: unknown key (valid keys: dir, formats, s3, retention_days, base_url)",
        f"{path}:7: remediation.mode: Input should be 'off', 'dry-run' or 'enforce'",
    ]
    assert info.value.exit_code is ExitCode.BAD_INPUT


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    """Broken YAML is reported with its line, not a traceback."""
    path = write(tmp_path, "regions: [us-east-1\nstore: x\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+: not valid YAML"):
        load_settings(path)


def test_environment_overrides_file_and_is_named_when_bad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AUDITOR_<SECTION>__<KEY> wins over the file; a bad value names the variable."""
    path = write(tmp_path, "remediation: {mode: dry-run}\n")
    monkeypatch.setenv("AUDITOR_REMEDIATION__MODE", "enforce")
    monkeypatch.setenv("AUDITOR_REGIONS", "us-east-1,eu-west-1")
    settings = load_settings(path)
    assert settings.remediation.mode == "enforce"
    assert settings.regions == ("us-east-1", "eu-west-1")
    monkeypatch.setenv("AUDITOR_REMEDIATION__MAX_ACTIONS_PER_CYCLE", "lots")
    with pytest.raises(ConfigError, match="environment AUDITOR_REMEDIATION__MAX_ACTIONS_PER_CYCLE"):
        load_settings(path)


def test_settings_are_frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One immutable object: nothing downstream can change the configuration."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None)
    with pytest.raises(ValidationError, match="frozen"):
        settings.store = "sqlite:///other.db"  # type: ignore[misc]


def test_secrets_only_by_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret is read from the named env var or file; the config never holds it."""
    monkeypatch.setenv("HOOK", "https://hooks.example/T/B/X")
    assert secret_from("HOOK", None) == "https://hooks.example/T/B/X"
    secret_file = tmp_path / "hook"
    secret_file.write_text("https://hooks.example/file\n")
    assert secret_from("MISSING", secret_file) == "https://hooks.example/file"
    assert secret_from(None, None) is None
    path = write(tmp_path, "slack: {webhook_url: https://hooks.example/T/B/X}\n")
    with pytest.raises(ConfigError, match="slack.webhook_url: unknown key"):
        load_settings(path)


def test_environment_lists_are_comma_separated_or_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AUDITOR_SERVICES=ec2,ecs works as users type it; sections and lists of mappings are
    JSON; variables that are not config (AUDITOR_SLACK_WEBHOOK) are left alone."""
    path = write(tmp_path, "services: [eks]\n")
    monkeypatch.setenv("AUDITOR_SERVICES", "ec2, ecs")
    monkeypatch.setenv("AUDITOR_REPORTS__FORMATS", '["json", "csv"]')
    monkeypatch.setenv("AUDITOR_ACCOUNTS", '[{"id": "123456789012"}]')
    monkeypatch.setenv("AUDITOR_SLACK_WEBHOOK", "https://hooks.example/T/B/X")
    settings = load_settings(path)
    assert settings.services == (Service.EC2, Service.ECS)
    assert settings.reports.formats == ("json", "csv")
    assert settings.accounts[0].id == "123456789012"
    assert settings.where("services") == "environment AUDITOR_SERVICES"


def test_a_bad_environment_value_names_the_variable_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file also sets `store`, but the bad value came from AUDITOR_STORE: say so."""
    path = write(tmp_path, "store: sqlite:///ok.db\n")
    monkeypatch.setenv("AUDITOR_STORE", "mysql://root@db/x")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value).startswith("environment AUDITOR_STORE: store: ")
    assert str(path) not in str(caught.value)


def test_settings_know_where_each_key_was_set(tmp_path: Path) -> None:
    """`Settings.where` gives file:line for messages about values checked later (exemptions)."""
    path = write(tmp_path, "services: [ec2]\nexemptions:\n  - rule: ec2.max_age\n"
                 "    resource: 'arn:*'\n    reason: r\n    owner: o\n    expires: 2027-01-31\n")  # fmt: skip
    settings = load_settings(path)
    assert settings.where("exemptions", 0) == f"{path}:3"
    assert settings.where("remediation", "mode") == str(path)

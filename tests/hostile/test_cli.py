"""Hostile input through the real CLI, as a user or an attacker runs it: a subprocess under
memory and CPU limits and a timeout. Each is exit 2 with a message naming the source, no
traceback, and nothing half-written (no store file, no report directory for a config error).

A representative set of data/ per family (test_loaders.py runs every file in-process)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.store import Store
from tests.hostile.conftest import DATA, assert_refused, auditor, child_env, expect_of

pytestmark = pytest.mark.slow

CONFIG_CASES = [
    "alias_bomb.yaml",
    "utf16_bom.yaml",
    "latin1.yaml",
    "int_key.yaml",
    "complex_key.yaml",
    "python_object_apply.yaml",
    "deep_flow_5000.yaml",
    "impossible_date.yaml",
    "duplicate_key.yaml",
    "bad_cron_report.yaml",
    "bad_timezone.yaml",
    "exemption_star_9999.yaml",
]
ENV_CASES = [
    "services_lambda",
    "accounts_not_json",
    "non_utf8_value",
    "remediation_typo",
    "store_bad",
]
RULE_CASES = ["alias_bomb.yaml", "python_tag.yaml", "utf16.yaml", "deep_condition.yaml"]
EXEMPTION_CASES = ["alias_bomb.yaml", "star_9999.yaml"]
STATE_CASES = ["deep_100000.tfstate", "nan.tfstate"]


def _nothing_written(cwd: Path) -> None:
    assert not (cwd / "auditor.db").exists(), "a store file was created for a config error"
    assert not (cwd / "reports").exists(), "a report directory was created for a config error"


@pytest.mark.parametrize("name", CONFIG_CASES)
def test_scan_refuses_hostile_config(name: str, tmp_path: Path) -> None:
    """`auditor scan --config FILE`: exit 2 naming FILE:line, nothing written."""
    path = DATA / "config" / name
    run = auditor(["scan", "--config", str(path)], cwd=tmp_path)
    assert_refused(run, str(path), expect_of(path))
    _nothing_written(tmp_path)


@pytest.mark.parametrize("name", ENV_CASES)
def test_scan_refuses_hostile_environment(name: str, tmp_path: Path) -> None:
    """A bad AUDITOR_* variable: the message names the variable, not the config file."""
    case = json.loads((DATA / "env" / f"{name}.json").read_text())
    config = tmp_path / "auditor.yaml"
    config.write_text("services: [ec2]\n")
    run = auditor(["scan", "--config", str(config)], tmp_path, child_env(**case["env"]))
    variable = next(iter(case["env"]))
    assert_refused(run, f"environment {variable}", case["expect"])
    _nothing_written(tmp_path)


@pytest.mark.parametrize("name", RULE_CASES)
def test_rules_validate_refuses_hostile_pack(name: str, tmp_path: Path) -> None:
    """`auditor rules validate FILE`: each problem line names FILE:line."""
    path = DATA / "rules" / name
    run = auditor(["rules", "validate", str(path)], cwd=tmp_path)
    assert_refused(run, str(path), expect_of(path))


def test_rules_validate_dev_zero_does_not_hang(tmp_path: Path) -> None:
    """`auditor rules validate /dev/zero` used to read forever."""
    run = auditor(["rules", "validate", "/dev/zero"], cwd=tmp_path)
    assert_refused(run, "/dev/zero", "not a regular file")


@pytest.mark.parametrize("name", EXEMPTION_CASES)
def test_scan_refuses_hostile_exemption_file(name: str, tmp_path: Path) -> None:
    """An exemption file is checked at start: exit 2 naming it, before AWS or the store."""
    path = DATA / "exemptions" / name
    config = tmp_path / "auditor.yaml"
    config.write_text(f"exemption_files: [{path}]\n")
    run = auditor(["scan", "--config", str(config)], cwd=tmp_path)
    assert_refused(run, str(path), expect_of(path))
    _nothing_written(tmp_path)


def _signing_key(tmp_path: Path) -> Path:
    key = tmp_path / "signing.key"
    subprocess.run(
        [sys.executable, "-m", "auditor", "keys", "generate", "--out", str(key)],
        check=True,
        capture_output=True,
    )
    return key


@pytest.mark.parametrize("name", [*STATE_CASES, "/dev/zero"])
def test_scan_refuses_hostile_terraform_state(name: str, tmp_path: Path) -> None:
    """Terraform state: exit 2 naming the file; no cycle committed, no report (a NaN never
    reaches report.json or PostgreSQL)."""
    path = Path(name) if name.startswith("/") else DATA / "terraform" / name
    key = _signing_key(tmp_path)
    config = tmp_path / "auditor.yaml"
    store = f"sqlite:///{tmp_path / 'state.db'}"
    config.write_text(
        f"store: {store}\nservices: []\nregions: [us-east-1]\ncollect: {{max_attempts: 1}}\n"
        f"signing: {{key_file: {key}}}\niac: {{terraform_states: ['{path}']}}\n"
    )
    run = auditor(["scan", "--config", str(config), "--no-alerts"], cwd=tmp_path)
    assert_refused(run, str(path), None)
    assert not (tmp_path / "reports").exists()
    opened = Store.open(store)
    try:
        assert opened.list_cycles() == []
    finally:
        opened.close()


@pytest.mark.parametrize("name", ["garbage.pem", "binary.der"])
def test_verify_refuses_a_garbage_key(name: str, tmp_path: Path) -> None:
    """`auditor verify --key garbage.pem DIR` is bad usage (2), not a traceback."""
    path = DATA / "keys" / name
    run = auditor(["verify", "--key", str(path), str(tmp_path)], cwd=tmp_path)
    assert_refused(run, str(path), "not a PEM public key")


def test_reports_dir_that_is_a_file_is_refused_before_the_cycle(tmp_path: Path) -> None:
    """reports.dir pointing at a file: exit 2 at start, before the store is created (it used
    to fail after the cycle was committed)."""
    key = _signing_key(tmp_path)
    (tmp_path / "reports.txt").write_text("not a directory\n")
    config = tmp_path / "auditor.yaml"
    config.write_text(
        f"reports: {{dir: {tmp_path / 'reports.txt'}}}\nsigning: {{key_file: {key}}}\n"
    )
    run = auditor(["scan", "--config", str(config)], cwd=tmp_path)
    assert_refused(run, "reports.dir", "is not a directory")
    assert not (tmp_path / "auditor.db").exists()


def test_metrics_port_in_use_is_exit_2(tmp_path: Path) -> None:
    """`auditor run` with metrics.listen on a port in use: exit 2 naming the key (as the
    docs promise), before the store is opened."""
    key = _signing_key(tmp_path)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        config = tmp_path / "auditor.yaml"
        config.write_text(
            f"metrics: {{listen: '127.0.0.1:{port}'}}\nsigning: {{key_file: {key}}}\n"
        )
        run = auditor(["run", "--config", str(config)], cwd=tmp_path)
    assert_refused(run, "metrics.listen", f"127.0.0.1:{port}")
    assert not (tmp_path / "auditor.db").exists()

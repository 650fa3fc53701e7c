"""`auditor scan` as a user runs it: a subprocess talking to a moto server over the network.

Proves the exit-code contract end to end: 1 for violations at or above --fail-on, 0 below
it, 3 when a service could not be read (and the report says so), 2 for a bad config
(file, line and key named, nothing written), 4 when a report was tampered with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.processes import MotoProcess

pytestmark = pytest.mark.slow

REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # a moto server process of its own: an in-process one shares (and a reset would wipe)
    # the estate of every other module's moto on this worker
    server = MotoProcess(tmp_path_factory.mktemp("moto") / "moto.log")
    endpoint = server.url
    server.launch_with_ssh_key(
        REGION, MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"}
    )
    yield endpoint
    server.stop()


def _env(endpoint: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUDITOR_"))}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="e2e",
        AWS_SECRET_ACCESS_KEY="e2e",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        MOTO_EC2_LOAD_DEFAULT_AMIS="false",
    )
    env.update(extra)
    return env


def _config(tmp_path: Path, **sections: str) -> Path:
    key = tmp_path / "signing.key"
    if not key.exists():
        subprocess.run(
            [sys.executable, "-m", "auditor", "keys", "generate", "--out", str(key)],
            check=True,
            capture_output=True,
        )
    lines = [
        f"store: sqlite:///{tmp_path / 'auditor.db'}",
        f"reports: {{dir: {tmp_path / 'reports'}}}",
        f"signing: {{key_file: {key}}}",
        "services: [ec2, ecs, eks, ecr]",
        *(f"{k}: {v}" for k, v in sections.items()),
    ]
    path = tmp_path / "auditor.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def scan(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor", "--log-json", "scan", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _latest_report(tmp_path: Path) -> Path:
    return _bundles(tmp_path)[-1]


def _bundles(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "reports").iterdir() if p.is_dir())


def test_violations_exit_1_and_fail_on_moves_the_bar(moto_endpoint: str, tmp_path: Path) -> None:
    """An SSH key pair (high) fails the default --fail-on high; --fail-on critical passes."""
    config = _config(tmp_path)
    first = scan(config, _env(moto_endpoint))
    assert first.returncode == 1, first.stderr
    assert "ec2.ssh_keypair_attached" in first.stdout
    assert "coverage complete" in first.stdout
    canonical = [
        json.loads(line) for line in first.stderr.splitlines() if '"event": "cycle"' in line
    ]
    assert len(canonical) == 1
    assert canonical[0]["resources"] >= 2
    second = scan(config, _env(moto_endpoint), "--fail-on", "critical")
    assert second.returncode == 0, second.stderr
    assert "delta: 0 new" in second.stdout


def test_unreadable_service_exits_3_and_report_says_incomplete(
    moto_endpoint: str, tmp_path: Path
) -> None:
    """EKS unreachable: exit 3, the report's coverage is incomplete and names the gap."""
    config = _config(tmp_path, collect="{max_attempts: 1}")
    env = _env(moto_endpoint, AWS_ENDPOINT_URL_EKS="http://127.0.0.1:9")
    result = scan(config, env, "--fail-on", "critical")
    assert result.returncode == 3, result.stderr
    assert "coverage INCOMPLETE" in result.stdout
    report = json.loads((_latest_report(tmp_path) / "report.json").read_text())
    assert report["coverage"]["complete"] is False
    gaps = report["coverage"]["gaps"]
    assert [(g["service"], g["region"]) for g in gaps] == [("eks", REGION)]
    unknown = [f for f in report["findings"] if f["status"] == "unknown"]
    assert {f["rule_id"] for f in unknown} >= {"eks.endpoint_public", "eks.nodegroup_remote_access"}


def test_bad_config_exits_2_and_writes_nothing(moto_endpoint: str, tmp_path: Path) -> None:
    """A bad key is named with file:line; no database or report appears."""
    config = _config(tmp_path, remediation="{mode: yolo}")
    result = scan(config, _env(moto_endpoint))
    assert result.returncode == 2
    assert f"{config}:5: remediation.mode" in result.stderr
    assert not (tmp_path / "auditor.db").exists()
    assert not (tmp_path / "reports").exists()


def test_tampered_report_exits_4(moto_endpoint: str, tmp_path: Path) -> None:
    """The signed bundle verifies; one changed byte in findings.csv is caught (exit 4)."""
    config = _config(tmp_path)
    assert scan(config, _env(moto_endpoint)).returncode == 1
    bundle = _latest_report(tmp_path)
    public = subprocess.run(
        [sys.executable, "-m", "auditor", "keys", "public", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (tmp_path / "pub.pem").write_text(public)
    verify = [sys.executable, "-m", "auditor", "verify", "--key", str(tmp_path / "pub.pem")]
    ok = subprocess.run([*verify, str(bundle)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    csv = bundle / "findings.csv"
    data = bytearray(csv.read_bytes())
    data[-2] ^= 0x01
    csv.write_bytes(bytes(data))
    bad = subprocess.run([*verify, str(bundle)], capture_output=True, text=True, check=False)
    assert bad.returncode == 4
    assert "findings.csv" in bad.stdout + bad.stderr


def test_version_and_help_have_examples() -> None:
    """`python -m auditor --version` works; every command's --help shows an example."""
    version = subprocess.run(
        [sys.executable, "-m", "auditor", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("auditor ")
    for command in (
        "demo",
        "scan",
        "run",
        "verify",
        "rules",
        "reports",
        "report",
        "keys",
        "notify",
    ):
        shown = subprocess.run(
            [sys.executable, "-m", "auditor", command, "--help"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "example" in shown.stdout.lower(), command


def test_on_demand_report_extends_the_signed_chain(moto_endpoint: str, tmp_path: Path) -> None:
    """`auditor report` replays the latest stored cycle into a new bundle linked to the last."""
    config = _config(tmp_path)
    assert scan(config, _env(moto_endpoint)).returncode == 1
    made = subprocess.run(
        [sys.executable, "-m", "auditor", "report", "--config", str(config)],
        env=_env(moto_endpoint),
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    bundles = _bundles(tmp_path)
    assert len(bundles) == 2
    first = json.loads((bundles[0] / "report.json").read_text())
    second = json.loads((bundles[1] / "report.json").read_text())
    assert sorted(f["id"] for f in second["findings"]) == sorted(f["id"] for f in first["findings"])
    chain = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditor",
            "verify",
            "--config",
            str(config),
            str(tmp_path / "reports"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert chain.returncode == 0, chain.stdout + chain.stderr


def test_daemon_refuses_to_start_without_its_signing_key(
    moto_endpoint: str, tmp_path: Path
) -> None:
    """A missing key stops `auditor run` at once with exit 2, instead of failing every cycle."""
    config = _config(tmp_path, metrics="{listen: '127.0.0.1:0'}")
    (tmp_path / "signing.key").unlink()
    started = subprocess.run(
        [sys.executable, "-m", "auditor", "run", "--config", str(config)],
        env=_env(moto_endpoint),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode == 2
    assert "signing.key: cannot read signing key" in started.stderr
    assert not (tmp_path / "auditor.db").exists()


def test_unchanged_scan_appends_an_attestation_and_the_chain_verifies(
    moto_endpoint: str, tmp_path: Path
) -> None:
    """scan, scan (nothing changed: a small signed attestation, same findings), scan
    --full-report (a full bundle on demand); `auditor verify` accepts the whole chain."""
    config = _config(tmp_path)
    env = _env(moto_endpoint)
    assert scan(config, env).returncode == 1
    assert scan(config, env).returncode == 1
    assert scan(config, env, "--full-report").returncode == 1
    full, attested, again = _bundles(tmp_path)
    assert (attested / "attestation.json").is_file()
    assert not (attested / "report.json").exists()
    assert sum(p.stat().st_size for p in attested.iterdir()) < 64 * 1024
    body = json.loads((attested / "attestation.json").read_text())
    assert full.name == body["unchanged_since"]["report_id"]
    first = json.loads((full / "report.json").read_text())
    third = json.loads((again / "report.json").read_text())
    assert sorted(f["id"] for f in third["findings"]) == sorted(f["id"] for f in first["findings"])
    chain = subprocess.run(
        [sys.executable, "-m", "auditor", "verify", "--config", str(config), str(full.parent)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert chain.returncode == 0, chain.stdout + chain.stderr

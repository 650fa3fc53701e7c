"""The bug report's own reproduction, as a user runs it: `auditor scan` after a good scan,
with STS unreachable (`AWS_ENDPOINT_URL_STS` on a closed port) and no accounts configured."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.faults.conftest import CREDENTIALS, World

pytestmark = __import__("pytest").mark.slow


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed when the block ends: connections refused


def _scan(config: Path, endpoint: str, **extra: str) -> tuple[int, dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUDITOR_"))}
    env.update(CREDENTIALS, AWS_ENDPOINT_URL=endpoint, AWS_REGION="us-east-1", **extra)
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "scan", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    reports = sorted(p for p in (config.parent / "reports").iterdir() if p.is_dir())
    return done.returncode, json.loads((reports[-1] / "report.json").read_text())


def test_sts_refused_exits_3_and_resolves_nothing(world: World, tmp_path: Path) -> None:
    """Was: exit 3 but 38 of 38 findings resolved, and reopened as new next time."""
    config = tmp_path / "auditor.yaml"
    config.write_text(
        "\n".join(
            [
                f"store: sqlite:///{tmp_path / 'auditor.db'}",
                f"reports: {{dir: {tmp_path / 'reports'}, formats: [json]}}",
                f"signing: {{key_file: {world.key_file}}}",
                "regions: [us-east-1]",
                "services: [ec2]",
                "collect: {max_attempts: 2, connect_timeout_seconds: 1, read_timeout_seconds: 2}",
            ]
        )
        + "\n"
    )
    endpoint = world.proxy.url
    code, first = _scan(config, endpoint)
    assert code == 1
    opened = {f["id"]: f["first_seen"] for f in first["findings"]}  # type: ignore[union-attr]
    assert opened

    code, blind = _scan(config, endpoint, AWS_ENDPOINT_URL_STS=f"http://127.0.0.1:{_closed_port()}")
    assert code == 3
    coverage = blind["coverage"]
    assert coverage["complete"] is False  # type: ignore[index]
    assert {(g["account"], g["region"], g["operation"]) for g in coverage["gaps"]} == {  # type: ignore[index]
        ("*", "*", "sts:GetCallerIdentity")
    }
    assert blind["delta"]["resolved"] == []  # type: ignore[index]

    code, again = _scan(config, endpoint)
    assert code == 1
    assert again["delta"]["new"] == []  # type: ignore[index]
    # only the blind cycle's scope placeholders resolve
    assert [r for r in again["delta"]["resolved"] if r["id"] in opened] == []  # type: ignore[index]
    assert {f["id"]: f["first_seen"] for f in again["findings"]} == opened  # type: ignore[union-attr]

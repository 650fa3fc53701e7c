"""`auditor demo` (what `make demo` runs and the README shows), end to end as a user runs it:
every rule family fires through real collection and evaluation, the report verifies, and no
seeded secret reaches the database, the bundle, the Slack capture or the terminal."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.demo.cell import LEAKY_LT_USER_DATA, LEAKY_USER_DATA
from auditor.demo.manifest import RULE_IDS

pytestmark = pytest.mark.slow

# Values the demo seeds into user data and task environments (auditor/demo/*.py).
SEEDED_SECRETS = (
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "Sup3r-s3cret-Pa55w0rd!",
    "hunter2-but-longer-9f8e7d",
    "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx",
    "Zq8!xT2#",
    "Im4ge-Baked-S3cret-7c2d",  # baked into an image's config and history (issue 18)
)
FAMILIES = ("ec2", "lt", "asg", "sg", "ecs", "ecr", "eks", "drift", "iac")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUDITOR_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    return out, proc


def _latest_report(out: Path) -> dict[str, object]:
    bundles = sorted(p for p in (out / "reports").iterdir() if (p / "manifest.sig").is_file())
    return json.loads((bundles[-1] / "report.json").read_text(encoding="utf-8"))


def test_demo_runs_and_every_rule_fires_in_the_signed_report(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """Every built-in immutability rule and every family (drift and IaC too) has a failing
    finding in the report of the second cycle, and the chain verifies with the printed key."""
    out, proc = demo
    assert 0 == proc.returncode, proc.stderr[-3000:]
    report = _latest_report(out)
    failing = {
        f["rule_id"]  # type: ignore[index]
        for f in report["findings"]  # type: ignore[attr-defined]
        if f["status"] == "fail"  # type: ignore[index]
    }
    assert set() == set(RULE_IDS) - failing
    assert set() == {fam for fam in FAMILIES if not any(r.startswith(fam + ".") for r in failing)}
    assert "seeded but not firing" not in proc.stdout
    verify = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditor",
            "verify",
            "--key",
            str(out / "public.pem"),
            str(out / "reports"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert 0 == verify.returncode, verify.stdout + verify.stderr


def test_demo_shows_drift_the_plan_and_slack(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """The printout the README shows: drift, a dry-run plan, captured Slack messages."""
    out, proc = demo
    for heading in (
        "== drift",
        "== remediation plan (dry-run",
        "== Slack (captured",
        "== signed report",
    ):
        assert heading in proc.stdout
    assert (out / "slack.jsonl").stat().st_size > 0


def test_no_seeded_secret_is_written_or_printed(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """Raw or base64, no seeded secret value is in any file the demo wrote, nor on screen."""
    out, proc = demo
    needles = [s.encode() for s in SEEDED_SECRETS]
    needles += [base64.b64encode(s.encode()) for s in (LEAKY_USER_DATA, LEAKY_LT_USER_DATA)]
    leaks = []
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaks += [f"{path.relative_to(out)}: {n[:12]!r}" for n in needles if n in data]
    screen = (proc.stdout + proc.stderr).encode()
    leaks += [f"terminal: {n[:12]!r}" for n in needles if n in screen]
    assert [] == leaks

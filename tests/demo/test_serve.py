"""Contract: `auditor demo --serve` serves the web app on the demo's store and prints the URL
and a viewer token that works (the demo cycles themselves are tested elsewhere)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from auditor.cli import main


def test_demo_help_offers_serve(capsys: pytest.CaptureFixture[str]) -> None:
    assert 0 == main(["demo", "--help"])
    assert "--serve" in capsys.readouterr().out


def test_serve_demo_prints_a_url_and_a_working_viewer_token(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from auditor.commands.demo import serve_demo\n"
        "from auditor.settings import Settings\n"
        f"s = Settings(store='sqlite:///{tmp_path / 'a.db'}', reports={{'dir': '{tmp_path}'}},"
        f" signing={{'key_file': '{tmp_path / 'none.key'}'}})\n"
        "sys.exit(serve_demo(s))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    url = token = ""
    for line in proc.stdout:
        if m := re.search(r"URL:\s+(\S+)", line):
            url = m.group(1).rstrip("/")
        if m := re.search(r"viewer token:\s+(aud_\S+)", line):
            token = m.group(1)
            break
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # poll until it listens
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        me = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    finally:
        proc.send_signal(signal.SIGTERM)
        code_ = proc.wait(timeout=30)
    assert "viewer" == me.json()["role"]
    assert 0 == code_

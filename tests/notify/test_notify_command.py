"""`auditor notify test`: one line per destination, and an exit code scripts can trust."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import structlog

from auditor.commands import notify
from tests.notify.fakeslack import FakeSlack


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="auditor")
    notify.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    with structlog.testing.capture_logs():  # logs go to stderr in the CLI; keep stdout clean
        return int(args.handler(args))


def test_all_destinations_ok(
    slack_server: FakeSlack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The webhook and a routed channel both get a test message: exit 0."""
    config = tmp_path / "auditor.yaml"
    config.write_text(
        "slack:\n"
        "  token_env: SLACK_BOT_TOKEN\n"
        f"  api_url: {slack_server.api_url}\n"
        "  routes: [{destination: '#oncall', min_severity: critical}]\n"
    )
    assert run(["notify", "test", "--config", str(config)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "webhook:AUDITOR_SLACK_WEBHOOK: ok",
        "channel:#oncall: ok",
    ]
    assert [
        r.path[: len("/services")] if r.path.startswith("/services") else r.path
        for r in slack_server.received
    ] == ["/services", "/api/chat.postMessage"]
    assert slack_server.payloads()[0]["text"] == "auditor test message"


def test_a_failing_destination_exits_1_without_leaking_the_url(
    slack_server: FakeSlack,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A route whose webhook variable is unset fails; the working one still reports ok."""
    monkeypatch.delenv("MISSING_HOOK", raising=False)
    config = tmp_path / "auditor.yaml"
    config.write_text("slack:\n  routes: [{destination: 'env:MISSING_HOOK'}]\n")
    assert run(["notify", "test", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "webhook:AUDITOR_SLACK_WEBHOOK: ok",
        "webhook:MISSING_HOOK: failed (no webhook URL configured for webhook:MISSING_HOOK)",
    ]
    assert slack_server.webhook_url not in out


def test_nothing_configured_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No webhook variable, no token, no routes: exit 2 with a hint."""
    monkeypatch.delenv("AUDITOR_SLACK_WEBHOOK", raising=False)
    config = tmp_path / "auditor.yaml"
    config.write_text("slack: {}\n")
    assert run(["notify", "test", "--config", str(config)]) == 2
    assert "nothing to test" in capsys.readouterr().out

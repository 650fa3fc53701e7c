"""Fixtures for the Slack tests: a fake Slack server, fake time, findings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.notify.fakeslack import TOKEN, FakeSlack


class FakeTime:
    """An injectable sleep + monotonic pair: sleeping advances time instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def slack_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """The fake Slack, with AUDITOR_SLACK_WEBHOOK and SLACK_BOT_TOKEN pointing at it."""
    server = FakeSlack()
    server.start()
    monkeypatch.setenv("AUDITOR_SLACK_WEBHOOK", server.webhook_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    try:
        yield server
    finally:
        server.stop()

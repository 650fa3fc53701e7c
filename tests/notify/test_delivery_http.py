"""Delivery against a real HTTP server on 127.0.0.1 standing in for Slack."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import structlog

from auditor.model import FindingDelta, FixedClock, OutboxMessage
from auditor.notify import (
    MemoryOutbox,
    SlackTransport,
    deliver,
    deliver_pending,
    plan_messages,
)
from auditor.notify.deliver import RetryPolicy
from auditor.settings import SlackConfig
from tests.conftest import NOW
from tests.notify.conftest import FakeTime
from tests.notify.factories import RULES, gap, tracked
from tests.notify.fakeslack import TOKEN, WEBHOOK_PATH, FakeSlack
from tests.notify.test_redaction import SEEDED, seeded_finding_delta

HIGH = tracked("ec2.ssh_keypair_attached", 1, tags={"team": "payments"})
CRITICAL = tracked("ec2.secrets_in_user_data", 2)


def header_texts(server: FakeSlack) -> list[str]:
    return [p["blocks"][0]["text"]["text"] for p in server.payloads()]


def cycle(
    outbox: MemoryOutbox,
    slack: SlackConfig,
    delta: FindingDelta,
    minutes: int,
    fake_time: FakeTime,
    gaps: tuple[object, ...] = (),
) -> object:
    """One cycle's alerts as the pipeline handles them: planned into the outbox, then
    everything pending delivered."""
    clock = FixedClock(NOW + timedelta(minutes=minutes))
    outbox.enqueue(
        plan_messages(
            delta,
            gaps,
            (),
            RULES,
            slack,
            "https://audit.example.com/r/1",
            clock.now(),  # type: ignore[arg-type]
        )
    )
    transport = SlackTransport(slack)
    try:
        return deliver_pending(
            outbox,
            transport,
            slack,
            clock,
            deadline_seconds=30,
            sleep=fake_time.sleep,
            monotonic=fake_time.monotonic,
        )
    finally:
        transport.close()


def test_three_cycles_send_exactly_what_changed(
    slack_server: FakeSlack, fake_time: FakeTime
) -> None:
    """Cycle 1 (new violations + a gap) sends 2 messages, cycle 2 (nothing changed) none,
    cycle 3 (one resolved) one: the channel sees changes only."""
    outbox = MemoryOutbox()
    slack = SlackConfig()
    later = NOW + timedelta(minutes=15)

    cycle(outbox, slack, FindingDelta((HIGH, CRITICAL), (), ()), 0, fake_time, (gap(),))
    assert header_texts(slack_server) == [
        ":rotating_light: 2 new violations (1 critical, 1 high)",
        ":warning: Coverage incomplete: 1 area(s) could not be read",
    ]

    cycle(outbox, slack, FindingDelta((), (HIGH, CRITICAL), ()), 15, fake_time, (gap(),))
    assert len(slack_server.received) == 2

    fixed = tracked("ec2.ssh_keypair_attached", 1, resolved_at=later + timedelta(minutes=15))
    cycle(outbox, slack, FindingDelta((), (CRITICAL,), (fixed,)), 30, fake_time, (gap(),))
    assert header_texts(slack_server) == [
        ":rotating_light: 2 new violations (1 critical, 1 high)",
        ":warning: Coverage incomplete: 1 area(s) could not be read",
        ":white_check_mark: 1 violation resolved (1 high)",
    ]
    assert {WEBHOOK_PATH} == {r.path for r in slack_server.received}
    assert outbox.pending() == []
    assert fake_time.sleeps == []


def test_429_retry_after_is_honoured(slack_server: FakeSlack, fake_time: FakeTime) -> None:
    """Rate limited with Retry-After: 7, the sender waits 7 s and the retry is delivered."""
    slack_server.fail_next(429, "rate_limited", {"Retry-After": "7"})
    outbox = MemoryOutbox()
    result = cycle(outbox, SlackConfig(), FindingDelta((HIGH,), (), ()), 0, fake_time)
    assert fake_time.sleeps == [7.0]
    assert len(slack_server.received) == 1
    assert outbox.pending() == []
    assert len(result.sent) == 1  # type: ignore[attr-defined]


def test_500_is_retried_with_backoff(slack_server: FakeSlack, fake_time: FakeTime) -> None:
    """Two 5xx answers, then success: waits 1 s then 2 s, delivered once."""
    slack_server.fail_next(500, "oops")
    slack_server.fail_next(503, "oops")
    outbox = MemoryOutbox()
    cycle(outbox, SlackConfig(), FindingDelta((HIGH,), (), ()), 0, fake_time)
    assert fake_time.sleeps == [1.0, 2.0]
    assert len(slack_server.received) == 1


def test_client_error_is_not_retried_but_kept(slack_server: FakeSlack, fake_time: FakeTime) -> None:
    """A 404 (channel gone) is not retried in the cycle, and the message stays pending."""
    slack_server.fail_next(404, "channel_not_found")
    outbox = MemoryOutbox()
    cycle(outbox, SlackConfig(), FindingDelta((HIGH,), (), ()), 0, fake_time)
    (pending,) = outbox.pending()
    assert (pending.attempts, pending.last_error) == (1, "HTTP 404: channel_not_found")
    assert fake_time.sleeps == []


def test_slack_down_for_a_cycle_gets_the_messages_next_cycle_once_each(
    slack_server: FakeSlack, fake_time: FakeTime
) -> None:
    """Server down during cycle 1: messages stay in the outbox; cycle 2 delivers each once;
    cycle 3 sends nothing more."""
    outbox = MemoryOutbox()
    slack = SlackConfig()
    slack_server.stop()
    first = cycle(outbox, slack, FindingDelta((HIGH, CRITICAL), (), ()), 0, fake_time, (gap(),))
    assert len(outbox.pending()) == 2
    assert (
        len(first.sent),  # type: ignore[attr-defined]
        len(first.failed),  # type: ignore[attr-defined]
        len(first.deferred),  # type: ignore[attr-defined]
    ) == (0, 1, 1)
    assert sum(fake_time.sleeps) <= 30

    slack_server.start()
    cycle(outbox, slack, FindingDelta((), (HIGH, CRITICAL), ()), 15, fake_time, (gap(),))
    cycle(outbox, slack, FindingDelta((), (HIGH, CRITICAL), ()), 30, fake_time, (gap(),))
    assert header_texts(slack_server) == [
        ":rotating_light: 2 new violations (1 critical, 1 high)",
        ":warning: Coverage incomplete: 1 area(s) could not be read",
    ]
    assert outbox.pending() == []


def test_outage_never_takes_longer_than_the_deadline(
    slack_server: FakeSlack, fake_time: FakeTime
) -> None:
    """A Retry-After longer than the time budget is not waited for: the message is kept."""
    slack_server.fail_next(429, "", {"Retry-After": "600"})
    outbox = MemoryOutbox()
    result = cycle(outbox, SlackConfig(), FindingDelta((HIGH,), (), ()), 0, fake_time)
    assert fake_time.sleeps == []
    assert len(result.failed) == 1  # type: ignore[attr-defined]
    assert len(outbox.pending()) == 1


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_hanging_slack_is_bounded_in_real_time(
    hanging_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack accepting connections but never answering costs about the deadline, no more."""
    monkeypatch.setenv("AUDITOR_SLACK_WEBHOOK", f"http://127.0.0.1:{hanging_port}/services/x")
    outbox = MemoryOutbox()
    outbox.enqueue(notify_plan(FindingDelta((HIGH, CRITICAL), (), ())))
    began = time.monotonic()
    result = deliver(
        outbox,
        SlackTransport(SlackConfig()),
        FixedClock(NOW),
        deadline_seconds=0.6,
        policy=RetryPolicy(backoff_seconds=0.01, request_timeout_seconds=0.2),
    )
    assert time.monotonic() - began < 2.0
    assert not result.complete
    assert len(outbox.pending()) == 1


def notify_plan(delta: FindingDelta) -> tuple[OutboxMessage, ...]:
    from auditor.notify import plan_messages

    return plan_messages(delta, (), (), RULES, SlackConfig(), None, NOW)


def test_web_api_chat_post_message(slack_server: FakeSlack, fake_time: FakeTime) -> None:
    """With a bot token and a channel, alerts go through chat.postMessage with the token,
    the channel and the blocks; a 429 there is honoured too."""
    slack = SlackConfig(
        token_env="SLACK_BOT_TOKEN", default_channel="#infra-alerts", api_url=slack_server.api_url
    )
    slack_server.fail_next(429, '{"ok": false, "error": "ratelimited"}', {"Retry-After": "3"})
    outbox = MemoryOutbox()
    cycle(outbox, slack, FindingDelta((HIGH,), (), ()), 0, fake_time)
    (request,) = slack_server.received
    body = request.json
    assert ("/api/chat.postMessage", f"Bearer {TOKEN}") == (request.path, request.authorization)
    assert body["channel"] == "#infra-alerts"
    assert body["blocks"][0]["text"]["text"] == ":rotating_light: 1 new violation (1 high)"
    assert fake_time.sleeps == [3.0]
    assert outbox.pending() == []


def test_web_api_bad_token_is_reported_without_the_token(
    slack_server: FakeSlack, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """invalid_auth is kept as the error, and the wrong token appears nowhere."""
    wrong = "xoxb-999999999999-9999999999999-wrongwrongwrongwrong00"
    monkeypatch.setenv("SLACK_BOT_TOKEN", wrong)
    slack = SlackConfig(
        token_env="SLACK_BOT_TOKEN", default_channel="#infra-alerts", api_url=slack_server.api_url
    )
    outbox = MemoryOutbox()
    with structlog.testing.capture_logs() as logs:
        cycle(outbox, slack, FindingDelta((HIGH,), (), ()), 0, fake_time)
    (pending,) = outbox.pending()
    assert pending.last_error == "Slack API error: invalid_auth"
    assert wrong not in repr(logs)


def test_seeded_secrets_never_reach_slack(slack_server: FakeSlack, fake_time: FakeTime) -> None:
    """Whatever secrets hide in findings, no request body the server received contains one."""
    cycle(outbox := MemoryOutbox(), SlackConfig(), seeded_finding_delta(), 0, fake_time, (gap(),))
    bodies = b"".join(r.body for r in slack_server.received).decode()
    assert len(slack_server.received) == 2
    assert [s for s in SEEDED if s in bodies] == []
    assert "«redacted»" in json.loads(slack_server.received[0].body)["blocks"][1]["text"]["text"]
    assert outbox.pending() == []


def test_webhook_url_never_in_errors_or_logs(slack_server: FakeSlack, fake_time: FakeTime) -> None:
    """A failing webhook's error (even one echoing the URL) and the logs never hold the URL."""
    slack_server.fail_next(400, f"invalid_payload for {slack_server.webhook_url}")
    outbox = MemoryOutbox()
    with structlog.testing.capture_logs() as logs:
        cycle(outbox, SlackConfig(), FindingDelta((HIGH,), (), ()), 0, fake_time)
    slack_server.stop()
    with structlog.testing.capture_logs() as down_logs:
        cycle(outbox, SlackConfig(), FindingDelta((), (HIGH,), ()), 15, fake_time)
    (pending,) = outbox.pending()
    texts = [pending.last_error or "", repr(logs), repr(down_logs)]
    assert [t for t in texts if WEBHOOK_PATH in t or "T00000000" in t] == []
    assert pending.attempts == 2

"""The Outbox contract: nothing dropped, nothing duplicated. The store's SQL outbox must pass
the same tests (parametrize `outbox` over it)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from auditor.model import OutboxMessage
from auditor.notify.outbox import MemoryOutbox, Outbox
from tests.conftest import NOW


@pytest.fixture(params=["memory"])
def outbox(request: pytest.FixtureRequest) -> Outbox:
    assert request.param == "memory"
    return MemoryOutbox()


def message(key: str, minutes: int = 0, text: str = "hi") -> OutboxMessage:
    return OutboxMessage(
        key=key,
        destination="webhook:AUDITOR_SLACK_WEBHOOK",
        payload={"text": text, "blocks": []},
        created_at=NOW + timedelta(minutes=minutes),
    )


def test_enqueue_ignores_known_keys(outbox: Outbox) -> None:
    """Planning the same cycle twice queues each alert once; the first payload wins."""
    assert outbox.enqueue([message("a"), message("b")]) == 2
    assert outbox.enqueue([message("a", text="changed"), message("c")]) == 1
    assert [(m.key, m.payload["text"]) for m in outbox.pending()] == [
        ("a", "hi"),
        ("b", "hi"),
        ("c", "hi"),
    ]


def test_pending_is_oldest_first_and_limited(outbox: Outbox) -> None:
    """Older alerts go out first, so a backlog drains in order."""
    outbox.enqueue([message("late", 10), message("early", 0), message("middle", 5)])
    assert [m.key for m in outbox.pending(limit=2)] == ["early", "middle"]


def test_sent_is_final_and_keeps_the_first_time(outbox: Outbox) -> None:
    """A sent message leaves `pending`, stays known, and re-enqueueing it does nothing."""
    outbox.enqueue([message("a"), message("b")])
    outbox.mark_sent("a", NOW)
    outbox.mark_sent("a", NOW + timedelta(hours=1))
    assert [m.key for m in outbox.pending()] == ["b"]
    assert {"a"} == outbox.sent_keys(["a", "b", "zzz"])
    assert outbox.enqueue([message("a")]) == 0
    assert [m.key for m in outbox.pending()] == ["b"]


def test_failures_count_and_stay_pending(outbox: Outbox) -> None:
    """A failed attempt is recorded and the message is retried later, never dropped."""
    outbox.enqueue([message("a")])
    outbox.mark_failed("a", "HTTP 500: oops", NOW)
    outbox.mark_failed("a", "HTTP 503: later", NOW + timedelta(minutes=15))
    (pending,) = outbox.pending()
    assert (pending.attempts, pending.last_error, pending.sent_at) == (2, "HTTP 503: later", None)

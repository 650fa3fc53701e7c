"""The sender's guarantees, with transports of our own instead of a server."""

from __future__ import annotations

from collections.abc import Mapping

from auditor.model import JSON, FixedClock, OutboxMessage
from auditor.notify import MemoryOutbox, SendResult, deliver
from tests.conftest import NOW
from tests.notify.conftest import FakeTime


class Raising:
    def send(self, destination: str, payload: Mapping[str, JSON], timeout: float) -> SendResult:
        raise RuntimeError("https://hooks.slack.com/services/T1/B2/secret exploded")


class AlwaysDown:
    def __init__(self) -> None:
        self.calls = 0

    def send(self, destination: str, payload: Mapping[str, JSON], timeout: float) -> SendResult:
        self.calls += 1
        return SendResult(False, status=503, error="HTTP 503: down", retryable=True)


def queued(n: int, destination: str = "webhook:AUDITOR_SLACK_WEBHOOK") -> MemoryOutbox:
    outbox = MemoryOutbox()
    outbox.enqueue(
        [OutboxMessage(f"k{i}", destination, {"text": "t", "blocks": []}, NOW) for i in range(n)]
    )
    return outbox


def test_a_transport_bug_does_not_fail_the_cycle_nor_leak() -> None:
    """An exception in a transport becomes a failed attempt; its text (which may hold the
    webhook URL) is not kept."""
    outbox = queued(1)
    result = deliver(outbox, Raising(), FixedClock(NOW), deadline_seconds=5, sleep=lambda s: None)
    (pending,) = outbox.pending()
    assert pending.last_error == "transport error: RuntimeError"
    assert result.failed == ("k0",)


def test_outage_is_bounded_by_the_deadline(fake_time: FakeTime) -> None:
    """Slack down, 100 messages queued: waiting stays within the 10 s budget, the first
    message is attempted, the other 99 wait for the next cycle untouched."""
    outbox = queued(100)
    down = AlwaysDown()
    result = deliver(
        outbox,
        down,
        FixedClock(NOW),
        deadline_seconds=10,
        sleep=fake_time.sleep,
        monotonic=fake_time.monotonic,
    )
    assert sum(fake_time.sleeps) <= 10
    assert (len(result.sent), len(result.failed), len(result.deferred)) == (0, 1, 99)
    assert down.calls == 4
    assert [m.attempts for m in outbox.pending()] == [1] + [0] * 99


def test_other_destinations_still_get_through(fake_time: FakeTime) -> None:
    """One failing destination does not block another's messages."""

    class HalfDown:
        def send(self, destination: str, payload: Mapping[str, JSON], timeout: float) -> SendResult:
            if destination == "channel:#down":
                return SendResult(False, status=500, error="HTTP 500", retryable=True)
            return SendResult(True, status=200)

    outbox = MemoryOutbox()
    outbox.enqueue(
        [
            OutboxMessage("a", "channel:#down", {"text": "t"}, NOW),
            OutboxMessage("b", "channel:#down", {"text": "t"}, NOW),
            OutboxMessage("c", "channel:#up", {"text": "t"}, NOW),
        ]
    )
    result = deliver(
        outbox,
        HalfDown(),
        FixedClock(NOW),
        deadline_seconds=30,
        sleep=fake_time.sleep,
        monotonic=fake_time.monotonic,
    )
    assert (result.sent, result.failed, result.deferred) == (("c",), ("a",), ("b",))

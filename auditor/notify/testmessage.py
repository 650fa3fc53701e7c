"""The message `auditor notify test` sends, and sending it to every destination."""

from __future__ import annotations

import time
from collections.abc import Callable

from auditor.model import JSON, Clock, OutboxMessage, iso
from auditor.notify import render
from auditor.notify.cycle import active_destinations
from auditor.notify.deliver import RetryPolicy, deliver
from auditor.notify.outbox import MemoryOutbox
from auditor.notify.transport import SlackTransport, Transport
from auditor.settings import SlackConfig


def payload_for_test(destination: str, clock: Clock) -> dict[str, JSON]:
    return {
        "text": "auditor test message",
        "blocks": [
            render.header(":white_check_mark: auditor test message"),
            render.section(
                f"If you can read this, auditor can post alerts to {render.code(destination)}."
            ),
            render.context(render.footer(clock.now(), None)),
        ],
    }


def send_test_messages(
    slack: SlackConfig,
    clock: Clock,
    transport: Transport | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str | None]:
    """Destination -> None when delivered, else the (scrubbed) error. Empty: nothing set up."""
    destinations = active_destinations(slack)
    if not destinations:
        return {}
    outbox = MemoryOutbox()
    now = clock.now()
    outbox.enqueue(
        [
            OutboxMessage(f"test:{d}:{iso(now)}", d, payload_for_test(d, clock), now)
            for d in destinations
        ]
    )
    sender = transport or SlackTransport(slack)
    try:
        deliver(
            outbox,
            sender,
            clock,
            deadline_seconds=3 * slack.timeout_seconds,
            policy=RetryPolicy(max_attempts=2, request_timeout_seconds=slack.timeout_seconds),
            sleep=sleep,
        )
    finally:
        if isinstance(sender, SlackTransport):
            sender.close()
    return {
        m.destination: None if m.sent_at else (m.last_error or "not attempted: time budget spent")
        for m in outbox.all()
    }

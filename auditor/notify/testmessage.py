"""The message `auditor notify test` sends, and sending it to every destination."""

from __future__ import annotations

import time
from collections.abc import Callable

from auditor.model import Clock, iso
from auditor.notify.alert import Alert
from auditor.notify.channels import Transports, messages, subscriptions
from auditor.notify.cycle import active_destinations
from auditor.notify.deliver import RetryPolicy, deliver
from auditor.notify.outbox import MemoryOutbox
from auditor.notify.transport import Transport
from auditor.settings import Settings

TITLE = "auditor test message"


def send_test_messages(
    settings: Settings,
    clock: Clock,
    transport: Transport | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str | None]:
    """Destination -> None when delivered, else the (scrubbed) error. Empty: nothing set up."""
    slack = settings.slack
    destinations = active_destinations(slack, subscriptions(settings))
    if not destinations:
        return {}
    outbox = MemoryOutbox()
    now = clock.now()
    outbox.enqueue(
        messages(Alert(f"test:{d}:{iso(now)}", "test", d, TITLE, now) for d in destinations)
    )
    sender = transport or Transports(settings)
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
        if isinstance(sender, Transports):
            sender.close()
    return {
        m.destination: None if m.sent_at else (m.last_error or "not attempted: time budget spent")
        for m in outbox.all()
    }

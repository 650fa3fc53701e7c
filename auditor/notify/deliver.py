"""Deliver the outbox within a bounded time: Slack being down never holds up the audit.

Each pending message gets a few attempts with exponential backoff (or the server's 429
`Retry-After`). A message that still fails is marked failed and stays pending for the next
cycle; once a destination is failing, its other messages wait for the next cycle too, so
an outage costs at most `deadline_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from auditor.model import Clock, OutboxMessage
from auditor.notify.outbox import Outbox
from auditor.notify.transport import SendResult, Transport

log = structlog.get_logger("auditor.notify")


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    sent: tuple[str, ...]  # keys delivered now
    failed: tuple[str, ...]  # keys attempted and still pending (retried next cycle)
    deferred: tuple[str, ...]  # keys not attempted: deadline reached or destination failing

    @property
    def complete(self) -> bool:
        return not self.failed and not self.deferred


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_seconds: float = 1.0  # 1, 2, 4 ... between attempts
    max_backoff_seconds: float = 30.0
    request_timeout_seconds: float = 10.0

    def wait(self, attempt: int, result: SendResult) -> float:
        if result.retry_after is not None:
            return result.retry_after
        return min(self.max_backoff_seconds, self.backoff_seconds * 2.0 ** (attempt - 1))


def _send(transport: Transport, message: OutboxMessage, timeout: float) -> SendResult:
    """A transport bug must not fail the audit cycle; its text may hold a secret, so only the
    exception type is kept."""
    try:
        return transport.send(message.destination, message.payload, timeout)
    except Exception as exc:  # any failure here is a failed delivery, kept for next cycle
        return SendResult(False, error=f"transport error: {type(exc).__name__}", retryable=True)


def _attempt(
    message: OutboxMessage,
    transport: Transport,
    policy: RetryPolicy,
    deadline: float,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> SendResult | None:
    """The last result for this message, or None if the deadline left no time to try."""
    result: SendResult | None = None
    for attempt in range(1, policy.max_attempts + 1):
        remaining = deadline - monotonic()
        if remaining <= 0:
            break
        timeout = min(policy.request_timeout_seconds, remaining)
        result = _send(transport, message, timeout)
        if result.ok or not result.retryable or attempt == policy.max_attempts:
            break
        wait = policy.wait(attempt, result)
        if monotonic() + wait >= deadline:
            break
        sleep(wait)
    return result


def deliver(
    outbox: Outbox,
    transport: Transport,
    clock: Clock,
    *,
    deadline_seconds: float,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    limit: int = 1000,
) -> DeliveryResult:
    """Send pending messages, oldest first, and stop after `deadline_seconds` in all."""
    deadline = monotonic() + deadline_seconds
    sent: list[str] = []
    failed: list[str] = []
    deferred: list[str] = []
    failing: set[str] = set()
    for message in outbox.pending(limit):
        if message.destination in failing or monotonic() >= deadline:
            deferred.append(message.key)
            continue
        result = _attempt(message, transport, policy, deadline, sleep, monotonic)
        if result is None:
            deferred.append(message.key)
        elif result.ok:
            outbox.mark_sent(message.key, clock.now())
            sent.append(message.key)
        else:
            error = result.error or "unknown error"
            outbox.mark_failed(message.key, error, clock.now())
            failed.append(message.key)
            if result.retryable:
                failing.add(message.destination)
            log.warning(
                "slack_delivery_failed",
                key=message.key,
                destination=message.destination,
                error=error,
                attempts=message.attempts + 1,
            )
    outcome = DeliveryResult(tuple(sent), tuple(failed), tuple(deferred))
    log.info("slack_delivery", sent=len(sent), failed=len(failed), deferred=len(deferred))
    return outcome

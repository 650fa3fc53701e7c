"""The SQS consumer: long-poll a batch, hand it to a micro-cycle, delete only what committed.

At-least-once delivery is the norm, so handling is idempotent (a stored event id is only
deleted again) and order does not matter (a micro-cycle re-describes the current state; the
latest call by event time is the one attributed). A message that can never be handled
(not an event, or received `max_receives` times) goes to the dead-letter path: sent to
`events.dead_letter_url` and deleted, or, without one, left to the queue's redrive policy.
It never blocks the others: SQS standard queues deliver past it.

Health: the feed is unhealthy while the queue cannot be read or the oldest message waits
longer than `events.max_lag_seconds`; the daemon then falls back to the full schedule and
says so in /readyz, in metrics and in the report's coverage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from auditor.aws import error_code
from auditor.collect.base import AWS_ERRORS
from auditor.events.microcycle import MicroResult, Received
from auditor.events.parse import PoisonEvent, parse_message
from auditor.model import JSON, Clock, iso
from auditor.settings import EventsConfig

log = structlog.get_logger("auditor.events")

MAX_RECEIVES = 5  # a message received this often without being handled is poison


@dataclass(frozen=True, slots=True)
class Message:
    message_id: str
    receipt_handle: str
    body: str
    sent_at: datetime | None
    receive_count: int


@dataclass(frozen=True, slots=True)
class FeedHealth:
    healthy: bool
    reason: str
    since: datetime | None = None  # when it became unhealthy
    lag_seconds: float = 0.0
    last_receive_at: datetime | None = None

    def coverage(self) -> dict[str, JSON]:
        """The report's `coverage.events`."""
        statement = (
            "Event feed healthy: changes are audited within seconds; the full schedule reconciles."
            if self.healthy
            else f"Event feed UNHEALTHY ({self.reason}): changes are seen at the next full "
            "cycle only; the full schedule is in force."
        )
        return {
            "enabled": True,
            "healthy": self.healthy,
            "statement": statement,
            "reason": self.reason,
            "unhealthy_since": iso(self.since) if self.since else None,
            "lag_seconds": round(self.lag_seconds, 1),
        }


@dataclass(frozen=True, slots=True)
class PollResult:
    received: int
    deleted: int
    poison: int
    duplicates: int
    retried: int
    micro: MicroResult | None = None
    # receive -> micro-cycle committed (findings stored, alerts queued); 0 when none ran
    latency_seconds: float = 0.0


Handler = Callable[[Sequence[Received]], MicroResult]


class EventFeed:
    """One SQS queue, read with long polls. Thread-safe enough for one consumer thread."""

    def __init__(self, config: EventsConfig, sqs: Any, clock: Clock) -> None:
        if not config.queue_url:
            raise ValueError("events.queue_url is not set")
        self.config = config
        self.queue_url = config.queue_url
        self.sqs = sqs
        self.clock = clock
        self._lock = threading.Lock()
        self._error: str | None = None
        self._unhealthy_since: datetime | None = None
        self._lag = 0.0
        self._last_receive: datetime | None = None

    # -- health ------------------------------------------------------------------------------
    def health(self) -> FeedHealth:
        with self._lock:
            reason = self._error
            if reason is None and self._lag > self.config.max_lag_seconds:
                limit = self.config.max_lag_seconds
                reason = f"oldest event waited {self._lag:.0f}s (limit {limit}s)"
            if reason is None and self._last_receive is None:
                reason = "not read yet"
            healthy = reason is None
            return FeedHealth(
                healthy=healthy,
                reason=reason or "ok",
                since=None if healthy else self._unhealthy_since,
                lag_seconds=self._lag,
                last_receive_at=self._last_receive,
            )

    def _mark(self, error: str | None, lag: float | None = None) -> None:
        now = self.clock.now()
        with self._lock:
            self._error = error
            if error is None:
                self._last_receive = now
                self._lag = lag or 0.0
            unhealthy = error is not None or self._lag > self.config.max_lag_seconds
            if unhealthy and self._unhealthy_since is None:
                self._unhealthy_since = now
            elif not unhealthy:
                self._unhealthy_since = None

    # -- queue -------------------------------------------------------------------------------
    def receive(self) -> list[Message]:
        try:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=self.config.batch_size,
                WaitTimeSeconds=self.config.wait_seconds,
                VisibilityTimeout=self.config.visibility_timeout_seconds,
                MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
            )
        except AWS_ERRORS as exc:
            self._mark(f"queue unreachable: {error_code(exc)}")
            log.warning("feed_receive_failed", error=error_code(exc))
            return []
        now = self.clock.now()
        messages = [_message(m) for m in response.get("Messages", [])]
        lag = max(((now - m.sent_at).total_seconds() for m in messages if m.sent_at), default=0.0)
        self._mark(None, lag)
        return messages

    def delete(self, messages: Sequence[Message]) -> int:
        deleted = 0
        for start in range(0, len(messages), 10):
            batch = messages[start : start + 10]
            entries = [
                {"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(batch)
            ]
            try:
                response = self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except AWS_ERRORS as exc:  # redelivered later: handled again idempotently
                log.warning("feed_delete_failed", error=error_code(exc))
                continue
            deleted += len(response.get("Successful", []))
        return deleted

    def dead_letter(self, message: Message, reason: str) -> bool:
        """Park a poison message. True when it left the queue."""
        log.warning("event_poison", message_id=message.message_id, reason=reason)
        dlq = self.config.dead_letter_url
        if not dlq:
            return False  # the queue's redrive policy moves it after maxReceiveCount
        try:
            self.sqs.send_message(
                QueueUrl=dlq,
                MessageBody=message.body,
                MessageAttributes={
                    "auditor-reason": {"DataType": "String", "StringValue": reason[:256]}
                },
            )
        except AWS_ERRORS as exc:
            log.warning("feed_dead_letter_failed", error=error_code(exc))
            return False
        return self.delete([message]) == 1

    def poll_once(self, handle: Handler) -> PollResult:
        """Receive one batch, run one micro-cycle over it, delete what it committed."""
        messages = self.receive()
        if not messages:
            return PollResult(0, 0, 0, 0, 0)
        received = time.perf_counter()
        now = self.clock.now()
        batch: list[Received] = []
        owners: dict[str, list[Message]] = {}
        poison = 0
        for m in messages:
            try:
                event = parse_message(m.body)
            except PoisonEvent as exc:
                poison += 1
                self.dead_letter(m, str(exc))
                continue
            if m.receive_count > MAX_RECEIVES:
                poison += 1
                self.dead_letter(m, f"received {m.receive_count} times without being handled")
                continue
            batch.append(Received(event, now))
            owners.setdefault(event.event_id, []).append(m)
        if not batch:
            return PollResult(len(messages), 0, poison, 0, 0)
        micro = handle(batch)  # raises: nothing deleted, every message comes back later
        latency = time.perf_counter() - received if micro.cycle is not None else 0.0
        done = [m for event_id in micro.done for m in owners.get(event_id, [])]
        deleted = self.delete(done)
        return PollResult(
            received=len(messages),
            deleted=deleted,
            poison=poison,
            duplicates=micro.duplicates + sum(len(v) - 1 for v in owners.values()),
            retried=len(micro.retry),
            micro=micro,
            latency_seconds=latency,
        )


def _message(raw: dict[str, Any]) -> Message:
    attributes = raw.get("Attributes") or {}
    sent = attributes.get("SentTimestamp")
    return Message(
        message_id=str(raw.get("MessageId", "")),
        receipt_handle=str(raw["ReceiptHandle"]),
        body=str(raw.get("Body", "")),
        sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
        receive_count=int(attributes.get("ApproximateReceiveCount") or 1),
    )

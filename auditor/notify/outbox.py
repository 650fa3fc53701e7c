"""The outbox: alerts wait here until Slack has them, so a Slack outage loses nothing.

The store provides the durable implementation; `MemoryOutbox` is the reference one used by
tests and the demo. Keys are idempotency keys: enqueueing a key twice is a no-op, and a key
is marked sent once, so a retried cycle never sends the same alert twice.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from auditor.model import OutboxMessage


class Outbox(Protocol):
    def enqueue(self, messages: Sequence[OutboxMessage]) -> int:
        """Add messages whose key is not present yet; returns how many were new."""
        ...

    def pending(self, limit: int = 1000) -> list[OutboxMessage]:
        """Messages not sent yet, oldest first."""
        ...

    def mark_sent(self, key: str, at: datetime) -> None:
        """Record delivery. Marking twice keeps the first sent_at."""
        ...

    def mark_failed(self, key: str, error: str, at: datetime) -> None:
        """Record a failed attempt (attempts += 1, last_error); the message stays pending."""
        ...

    def sent_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of `keys` already delivered."""
        ...


class MemoryOutbox:
    """An in-process Outbox with the same semantics as the store's."""

    def __init__(self) -> None:
        self._messages: dict[str, OutboxMessage] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()

    def enqueue(self, messages: Sequence[OutboxMessage]) -> int:
        added = 0
        with self._lock:
            for message in messages:
                if message.key in self._messages:
                    continue
                self._messages[message.key] = message
                self._order.append(message.key)
                added += 1
        return added

    def pending(self, limit: int = 1000) -> list[OutboxMessage]:
        with self._lock:
            waiting = [self._messages[k] for k in self._order if self._messages[k].sent_at is None]
        waiting.sort(key=lambda m: m.created_at)  # stable: ties keep enqueue order
        return waiting[:limit]

    def mark_sent(self, key: str, at: datetime) -> None:
        with self._lock:
            message = self._messages.get(key)
            if message is not None and message.sent_at is None:
                self._messages[key] = dataclasses.replace(message, sent_at=at)

    def mark_failed(self, key: str, error: str, at: datetime) -> None:
        del at  # the durable outbox records it; nothing here reads it
        with self._lock:
            message = self._messages.get(key)
            if message is not None:
                self._messages[key] = dataclasses.replace(
                    message, attempts=message.attempts + 1, last_error=error
                )

    def sent_keys(self, keys: Iterable[str]) -> set[str]:
        with self._lock:
            return {
                k for k in keys if k in self._messages and self._messages[k].sent_at is not None
            }

    def all(self) -> list[OutboxMessage]:
        """Every message, sent or not, in enqueue order (for tests and the demo)."""
        with self._lock:
            return [self._messages[k] for k in self._order]

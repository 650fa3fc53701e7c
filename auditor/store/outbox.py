"""The alert outbox: messages wait here until delivered, each under an idempotency key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa

from auditor.model import OutboxMessage
from auditor.store.engine import WRITE, insert_for, is_in
from auditor.store.snapshots import chunks
from auditor.store.tables import OutboxRow, table

OUTBOX = table(OutboxRow)


def insert_messages(conn: sa.Connection, messages: Sequence[OutboxMessage]) -> int:
    """Insert messages whose key is new; returns how many were new."""
    new = 0
    for m in messages:
        stmt = insert_for(conn, OUTBOX).values(
            key=m.key,
            destination=m.destination,
            payload=dict(m.payload),
            created_at=m.created_at,
            attempts=m.attempts,
            last_error=m.last_error,
            sent_at=m.sent_at,
        )
        inserted = stmt.on_conflict_do_nothing(index_elements=[OUTBOX.c.key]).returning(
            OUTBOX.c.key
        )
        new += len(conn.execute(inserted).all())
    return new


class SqlOutbox:
    """The outbox over the store's database; every call is its own transaction."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def enqueue(self, messages: Sequence[OutboxMessage]) -> int:
        with self._engine.connect().execution_options(**WRITE) as conn, conn.begin():
            return insert_messages(conn, messages)

    def pending(self, limit: int = 1000) -> list[OutboxMessage]:
        with self._engine.connect() as conn, conn.begin():
            rows = conn.execute(
                sa.select(OUTBOX)
                .where(OUTBOX.c.sent_at.is_(None))
                .order_by(OUTBOX.c.created_at, OUTBOX.c.seq)
                .limit(limit)
            ).mappings()
            return [
                OutboxMessage(
                    key=r["key"],
                    destination=r["destination"],
                    payload=r["payload"],
                    created_at=r["created_at"],
                    attempts=r["attempts"],
                    last_error=r["last_error"],
                    sent_at=r["sent_at"],
                )
                for r in rows
            ]

    def mark_sent(self, key: str, at: datetime) -> None:
        with self._engine.connect().execution_options(**WRITE) as conn, conn.begin():
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.key == key, OUTBOX.c.sent_at.is_(None))
                .values(sent_at=at)
            )

    def mark_failed(self, key: str, error: str, at: datetime) -> None:
        """Count a failed attempt. `at` is accepted for the protocol; the row keeps no time."""
        del at
        with self._engine.connect().execution_options(**WRITE) as conn, conn.begin():
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.key == key)
                .values(attempts=OUTBOX.c.attempts + 1, last_error=error)
            )

    def first_queued(self, prefix: str) -> dict[str, datetime]:
        """For every key starting with `prefix`: when it was queued (oldest first wins in the
        caller's grouping). Coverage reminders count from the first alert of a gap."""
        with self._engine.connect() as conn, conn.begin():
            rows = conn.execute(
                sa.select(OUTBOX.c.key, OUTBOX.c.created_at).where(
                    OUTBOX.c.key.startswith(prefix, autoescape=True)
                )
            )
            return {str(key): created for key, created in rows}

    def sent_keys(self, keys: Iterable[str]) -> set[str]:
        out: set[str] = set()
        with self._engine.connect() as conn, conn.begin():
            for chunk in chunks(sorted(set(keys))):
                out.update(
                    conn.scalars(
                        sa.select(OUTBOX.c.key).where(
                            is_in(conn, OUTBOX.c.key, chunk), OUTBOX.c.sent_at.is_not(None)
                        )
                    )
                )
        return out

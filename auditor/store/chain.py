"""The report chain ledger, and the lock that serialises everyone who appends to the chain.

The ledger is the chain's authority: the next report's sequence and predecessor come from
here, not from file names or timestamps, so two writers on one store cannot fork the chain.
A cycle's commit adds its report as `pending`; publishing records its sequence and manifest
hash. A pending report seen by someone holding the chain lock has no live writer (writers
hold the lock from their commit until their report is recorded): it is repaired or declared
missing.

The lock: PostgreSQL, a session advisory lock on a dedicated connection (released by the
server when the process dies); SQLite, an exclusive flock(2) on `<database>.chain-lock`
(released by the kernel when the process dies; SQLite stores are local files). A lock row
with an expiry would keep a crashed writer's lock until it expired; a held BEGIN IMMEDIATE
would dead-lock against the cycle's own commit on another connection.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from auditor.store.engine import StoreError, insert_for
from auditor.store.records import ChainEntry, ChainState
from auditor.store.tables import ReportChainRow, table

CHAIN = table(ReportChainRow)
_CHAIN_LOCK_ID = 0x61756469746F63  # "audito" + "c"; distinct from the migration and cycle locks
_MEMORY_LOCKS: dict[int, threading.Lock] = {}
_MEMORY_GUARD = threading.Lock()


class ChainLockLostError(StoreError):
    """The connection holding the chain lock died: another writer may hold it now."""


class ChainLock:
    """A held chain lock. `check()` raises ChainLockLostError when it is no longer held.

    On PostgreSQL the lock lives as long as its connection: a heartbeat keeps the connection
    busy (an idle connection may be cut by a proxy or firewall) and notices when it is gone.
    """

    def __init__(self, conn: sa.Connection | None = None, interval: float = 2.0) -> None:
        self._conn = conn
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._lost: str | None = None
        self._thread: threading.Thread | None = None
        if conn is not None:
            self._thread = threading.Thread(
                target=self._beat, args=(interval,), name="chain-lock", daemon=True
            )
            self._thread.start()

    def _ping(self) -> None:
        if self._conn is None or self._lost is not None:
            return
        with self._guard:
            try:
                self._conn.execute(sa.text("SELECT 1"))
            except sa.exc.SQLAlchemyError as exc:
                self._lost = (str(exc).strip().splitlines() or [type(exc).__name__])[0]

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval) and self._lost is None:
            self._ping()

    def check(self) -> None:
        self._ping()
        if self._lost is not None:
            raise ChainLockLostError(f"the report chain lock was lost ({self._lost})")

    def stop(self) -> bool:
        """Stop the heartbeat; True when the lock is still held (worth unlocking)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self._lost is None


@contextmanager
def chain_lock(engine: sa.Engine) -> Iterator[ChainLock]:
    """Hold the store's report-chain lock (blocks until it is free)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": _CHAIN_LOCK_ID})
            held = ChainLock(conn)
            try:
                yield held
            finally:
                # a lost connection took the lock with it: the server released it
                if held.stop():
                    with suppress(sa.exc.SQLAlchemyError):
                        conn.execute(
                            sa.text("SELECT pg_advisory_unlock(:id)"), {"id": _CHAIN_LOCK_ID}
                        )
        return
    database = engine.url.database
    if not database or database == ":memory:":
        with _MEMORY_GUARD:
            lock = _MEMORY_LOCKS.setdefault(id(engine), threading.Lock())
        with lock:
            yield ChainLock()
        return
    with open(Path(database).with_name(Path(database).name + ".chain-lock"), "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield ChainLock()
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _entry(row: Any) -> ChainEntry:
    return ChainEntry(
        report_id=str(row.report_id),
        cycle_id=row.cycle_id,
        state=ChainState(row.state),
        sequence=row.sequence,
        manifest_sha256=row.manifest_sha256,
        generated_at=row.generated_at,
        reason=row.reason,
        declared_in=row.declared_in,
        created_at=row.created_at,
    )


def add_pending(conn: sa.Connection, report_id: str, cycle_id: str | None, now: datetime) -> None:
    """The cycle's commit records the report it owes (same transaction as the cycle); an
    on-demand report records itself before its bundle is written. Idempotent."""
    insert = insert_for(conn, CHAIN).values(
        report_id=report_id,
        cycle_id=cycle_id,
        state=ChainState.PENDING.value,
        created_at=now,
        updated_at=now,
    )
    conn.execute(insert.on_conflict_do_nothing(index_elements=[CHAIN.c.report_id]))


def discard(conn: sa.Connection, report_id: str) -> None:
    """Forget an unpublished on-demand report (no cycle owes it)."""
    conn.execute(
        CHAIN.delete().where(
            CHAIN.c.report_id == report_id, CHAIN.c.state != ChainState.PUBLISHED.value
        )
    )


def head(conn: sa.Connection) -> ChainEntry | None:
    row = conn.execute(
        sa.select(CHAIN)
        .where(CHAIN.c.state == ChainState.PUBLISHED.value)
        .order_by(CHAIN.c.sequence.desc())
        .limit(1)
    ).first()
    return None if row is None else _entry(row)


def entries(conn: sa.Connection, states: Sequence[ChainState]) -> list[ChainEntry]:
    rows = conn.execute(
        sa.select(CHAIN)
        .where(CHAIN.c.state.in_([s.value for s in states]))
        .order_by(CHAIN.c.created_at, CHAIN.c.report_id)
    )
    return [_entry(r) for r in rows]


def undeclared_missing(conn: sa.Connection) -> list[ChainEntry]:
    return [e for e in entries(conn, (ChainState.MISSING,)) if e.declared_in is None]


def record_published(
    conn: sa.Connection,
    *,
    report_id: str,
    cycle_id: str | None,
    sequence: int,
    manifest_sha256: str,
    generated_at: str,
    now: datetime,
    declared: Sequence[str] = (),
) -> None:
    values = {
        "state": ChainState.PUBLISHED.value,
        "sequence": sequence,
        "manifest_sha256": manifest_sha256,
        "generated_at": generated_at,
        "reason": None,
        "updated_at": now,
    }
    insert = insert_for(conn, CHAIN).values(
        report_id=report_id, cycle_id=cycle_id, created_at=now, **values
    )
    conn.execute(insert.on_conflict_do_update(index_elements=[CHAIN.c.report_id], set_=values))
    if declared:
        conn.execute(
            CHAIN.update()
            .where(CHAIN.c.report_id.in_(list(declared)))
            .values(declared_in=report_id, updated_at=now)
        )


def record_state(
    conn: sa.Connection, report_id: str, state: ChainState, reason: str, now: datetime
) -> None:
    """A report that failed (retried by the next run) or is missing for good."""
    conn.execute(
        CHAIN.update()
        .where(CHAIN.c.report_id == report_id, CHAIN.c.state != ChainState.PUBLISHED.value)
        .values(state=state.value, reason=reason[:2000], updated_at=now)
    )

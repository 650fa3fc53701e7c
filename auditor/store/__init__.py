"""The snapshot store: SQLModel tables over SQLite or PostgreSQL, schema by Alembic.

store = Store.open("sqlite:///auditor.db")      # or postgresql+psycopg://user@host/db
store.commit_cycle(CycleRecord(snapshot, evaluation, tracked))   # one transaction
previous = store.latest_snapshot()
"""

from __future__ import annotations

from auditor.store.engine import StoreError
from auditor.store.outbox import SqlOutbox
from auditor.store.records import (
    ChainEntry,
    ChainState,
    CycleRecord,
    CycleSummary,
    EventRecord,
    FindingEvent,
    FindingEventKind,
    PruneResult,
    ResourceVersion,
)
from auditor.store.snapshots import SnapshotNotFoundError
from auditor.store.store import Store

__all__ = [
    "ChainEntry",
    "ChainState",
    "CycleRecord",
    "CycleSummary",
    "EventRecord",
    "FindingEvent",
    "FindingEventKind",
    "PruneResult",
    "ResourceVersion",
    "SnapshotNotFoundError",
    "SqlOutbox",
    "Store",
    "StoreError",
]

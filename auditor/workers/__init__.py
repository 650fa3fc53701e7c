"""Distributed collection: (account, region, service) units on Celery workers over Redis.

The leader (`auditor scan` or the daemon's leader, with `workers.broker` set) enqueues a
cycle's units as rows in the shared PostgreSQL store and as Celery messages, then waits on
the rows (`dispatch`). A worker (`auditor worker`, `process`) claims a unit's row, collects
it, and writes its result to the row once (`task`). Celery carries messages only: state of
record is in PostgreSQL, never in a result backend. See docs/scaling.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.collect.units import UnitExecutor
    from auditor.settings import Settings
    from auditor.store import Store


def executor_for(settings: Settings, store: Store) -> UnitExecutor | None:
    """The distributed executor when `workers.broker` is set, else None (in-process).
    Celery is imported only then."""
    if not settings.workers.broker:
        return None
    from auditor.workers.dispatch import DistributedExecutor

    return DistributedExecutor(settings, store)

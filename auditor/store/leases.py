"""Named leases with expiry: leader election through the database.

Acquiring is one atomic upsert, so two replicas racing for an expired lease cannot both win:
INSERT, or on conflict take the row over only if it expired or is already ours.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from auditor.store.engine import insert_for
from auditor.store.tables import LeaseRow, table

LEASES = table(LeaseRow)


def try_acquire(
    conn: sa.Connection, name: str, holder: str, ttl_seconds: float, now: datetime
) -> bool:
    insert = insert_for(conn, LEASES).values(
        name=name, holder=holder, expires_at=now + timedelta(seconds=ttl_seconds)
    )
    stmt = insert.on_conflict_do_update(
        index_elements=[LEASES.c.name],
        set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
        where=sa.or_(LEASES.c.expires_at < now, LEASES.c.holder == holder),
    )
    return conn.execute(stmt.returning(LEASES.c.holder)).first() is not None


def release(conn: sa.Connection, name: str, holder: str) -> None:
    conn.execute(LEASES.delete().where(LEASES.c.name == name, LEASES.c.holder == holder))

"""Repository functions for what the web app writes: exemption requests, approvals, audit log.

Each takes a connection, so a route does its change and its audit record in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from auditor.model import ActionStatus
from auditor.store.actions import ACTIONS
from auditor.store.webapp_tables import APPROVALS, AUDIT_LOG, EXEMPTION_REQUESTS

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"


@dataclass(frozen=True, slots=True)
class Decision:
    """An operator's latest decision on one (target, action)."""

    target_arn: str
    action: str
    decision: str
    decided_by: str
    decided_at: datetime


def add_exemption_request(conn: sa.Connection, values: dict[str, Any]) -> int:
    result = conn.execute(EXEMPTION_REQUESTS.insert().values(status=PENDING, **values))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def exemption_request(conn: sa.Connection, request_id: int) -> dict[str, Any] | None:
    row = (
        conn.execute(sa.select(EXEMPTION_REQUESTS).where(EXEMPTION_REQUESTS.c.id == request_id))
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def exemption_requests(
    conn: sa.Connection, status: str | None, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first; `after_id` is the cursor (the last id of the previous page)."""
    stmt = sa.select(EXEMPTION_REQUESTS).order_by(EXEMPTION_REQUESTS.c.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(EXEMPTION_REQUESTS.c.status == status)
    if after_id is not None:
        stmt = stmt.where(EXEMPTION_REQUESTS.c.id < after_id)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def decide_exemption_request(
    conn: sa.Connection, request_id: int, decision: str, by: str, at: datetime
) -> bool:
    """Approve or reject a pending request; False when it is no longer pending."""
    result = conn.execute(
        EXEMPTION_REQUESTS.update()
        .where(EXEMPTION_REQUESTS.c.id == request_id, EXEMPTION_REQUESTS.c.status == PENDING)
        .values(status=decision, decided_by=by, decided_at=at)
    )
    return bool(result.rowcount == 1)


def approved_exemption_requests(conn: sa.Connection, today: date) -> list[dict[str, Any]]:
    """Approved requests that have not expired: the cycle applies these."""
    stmt = (
        sa.select(EXEMPTION_REQUESTS)
        .where(EXEMPTION_REQUESTS.c.status == APPROVED, EXEMPTION_REQUESTS.c.expires >= today)
        .order_by(EXEMPTION_REQUESTS.c.id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def add_decision(
    conn: sa.Connection,
    action_id: str,
    target_arn: str,
    action: str,
    decision: str,
    by: str,
    at: datetime,
) -> None:
    conn.execute(
        APPROVALS.insert().values(
            action_id=action_id,
            target_arn=target_arn,
            action=action,
            decision=decision,
            decided_by=by,
            decided_at=at,
        )
    )


def open_decisions(conn: sa.Connection) -> list[Decision]:
    """The latest decision per (target, action) that no executed action has used up yet.

    An approval covers one execution: once the action ran after it, it needs a new one.
    """
    latest: dict[tuple[str, str], Decision] = {}
    rows = conn.execute(sa.select(APPROVALS).order_by(APPROVALS.c.id)).mappings()
    for r in rows:
        latest[(r["target_arn"], r["action"])] = Decision(
            r["target_arn"], r["action"], r["decision"], r["decided_by"], r["decided_at"]
        )
    if not latest:
        return []
    executed = conn.execute(
        sa.select(ACTIONS.c.target_arn, ACTIONS.c.action, sa.func.max(ACTIONS.c.at))
        .where(ACTIONS.c.status == ActionStatus.EXECUTED.value)
        .group_by(ACTIONS.c.target_arn, ACTIONS.c.action)
    )
    done = {(t, a): at for t, a, at in executed}
    return [d for key, d in latest.items() if done.get(key) is None or done[key] < d.decided_at]


def append_audit(
    conn: sa.Connection,
    at: datetime,
    actor: str | None,
    role: str | None,
    method: str,
    path: str,
    status: int,
) -> None:
    conn.execute(
        AUDIT_LOG.insert().values(
            at=at, actor=actor, role=role, method=method[:8], path=path[:256], status=status
        )
    )


def audit_entries(
    conn: sa.Connection, since: datetime | None, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first; `after_id` is the cursor."""
    stmt = sa.select(AUDIT_LOG).order_by(AUDIT_LOG.c.id.desc()).limit(limit)
    if since is not None:
        stmt = stmt.where(AUDIT_LOG.c.at >= since)
    if after_id is not None:
        stmt = stmt.where(AUDIT_LOG.c.id < after_id)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def audit_since(conn: sa.Connection, since: datetime | None) -> Sequence[dict[str, Any]]:
    """Every entry at or after `since`, oldest first (what the next report includes)."""
    stmt = sa.select(AUDIT_LOG).order_by(AUDIT_LOG.c.id)
    if since is not None:
        stmt = stmt.where(AUDIT_LOG.c.at >= since)
    return [dict(r) for r in conn.execute(stmt.limit(10_000)).mappings()]

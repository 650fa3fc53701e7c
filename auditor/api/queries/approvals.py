"""The remediation approvals queue: held "awaiting approval" actions of the latest plans."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import HTTPException

from auditor.api import paging
from auditor.api.models import Approval, ApprovalPage
from auditor.api.queries.resources import _action
from auditor.remediate.approvals import AWAITING
from auditor.store import webapp
from auditor.store.actions import ACTIONS
from auditor.store.findings import FINDINGS
from auditor.store.tokens import Caller


def _latest_cycle(conn: sa.Connection) -> str | None:
    row = conn.execute(
        sa.select(ACTIONS.c.cycle_id).order_by(ACTIONS.c.at.desc(), ACTIONS.c.id).limit(1)
    ).first()
    return str(row[0]) if row is not None else None


def queue(conn: sa.Connection, cursor: str | None, limit: int) -> ApprovalPage:
    """The latest cycle's gated actions, each with its current decision (if any)."""
    cycle = _latest_cycle(conn)
    if cycle is None:
        return ApprovalPage(items=[], next_cursor=None)
    stmt = (
        sa.select(ACTIONS)
        .where(
            ACTIONS.c.cycle_id == cycle,
            sa.or_(
                ACTIONS.c.reason.like(f"{AWAITING}%"),
                ACTIONS.c.reason.like("%; approved by %"),
                ACTIONS.c.reason.like("rejected by %"),
            ),
        )
        .order_by(ACTIONS.c.id)
        .limit(limit + 1)
    )
    position = paging.decode(cursor, 1)
    if position is not None:
        stmt = stmt.where(ACTIONS.c.id > str(position[0]))
    rows = list(conn.execute(stmt).mappings())
    more = len(rows) > limit
    rows = rows[:limit]
    decisions = {(d.target_arn, d.action): d for d in webapp.open_decisions(conn)}
    items = []
    for r in rows:
        d = decisions.get((r["target_arn"], r["action"]))
        items.append(
            Approval(
                action=_action(r),
                rules=_rules(conn, r["finding_ids"] or []),
                decision=d.decision if d is not None else "pending",
                decided_by=d.decided_by if d is not None else None,
                decided_at=d.decided_at if d is not None else None,
            )
        )
    return ApprovalPage(
        items=items, next_cursor=paging.encode([rows[-1]["id"]]) if more and rows else None
    )


def _rules(conn: sa.Connection, finding_ids: Sequence[str]) -> list[str]:
    if not finding_ids:
        return []
    found = conn.execute(
        sa.select(FINDINGS.c.rule_id).where(FINDINGS.c.id.in_(list(finding_ids))).distinct()
    )
    return sorted(str(r) for (r,) in found)


def decide(
    conn: sa.Connection, action_id: str, approve: bool, caller: Caller, now: datetime
) -> Mapping[str, Any]:
    row = conn.execute(sa.select(ACTIONS).where(ACTIONS.c.id == action_id)).mappings().first()
    if row is None or not str(row["reason"]).startswith(AWAITING):
        raise HTTPException(404, "no such action awaiting approval")
    webapp.add_decision(
        conn,
        action_id,
        row["target_arn"],
        row["action"],
        webapp.APPROVED if approve else webapp.REJECTED,
        caller.name,
        now,
    )
    return dict(row)

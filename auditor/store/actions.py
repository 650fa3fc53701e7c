"""Remediation actions: the audit trail of automation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from auditor.model import ActionRecord, ActionStatus
from auditor.store.engine import insert_for
from auditor.store.tables import ActionRow, table

ACTIONS = table(ActionRow)
_UPDATED = ("status", "reason", "finding_ids", "at", "request_id", "response", "mode")


def _row(action: ActionRecord) -> dict[str, Any]:
    return {
        "id": action.id,
        "cycle_id": action.cycle_id,
        "target_arn": action.target_arn,
        "target_kind": action.target_kind,
        "action": action.action,
        "mode": action.mode,
        "status": action.status.value,
        "reason": action.reason,
        "finding_ids": list(action.finding_ids),
        "account": action.account,
        "region": action.region,
        "at": action.at,
        "request_id": action.request_id,
        "response": dict(action.response) if action.response is not None else None,
    }


def write_actions(conn: sa.Connection, actions: Sequence[ActionRecord]) -> None:
    """Insert actions; an id seen before takes the newer status (planned -> executed)."""
    for action in actions:
        stmt = insert_for(conn, ACTIONS).values(_row(action))
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[ACTIONS.c.id],
                set_={name: stmt.excluded[name] for name in _UPDATED},
            )
        )


def actions_since(conn: sa.Connection, since: datetime) -> list[ActionRecord]:
    rows = conn.execute(
        sa.select(ACTIONS).where(ACTIONS.c.at >= since).order_by(ACTIONS.c.at, ACTIONS.c.id)
    ).mappings()
    return [
        ActionRecord(
            id=r["id"],
            cycle_id=r["cycle_id"],
            target_arn=r["target_arn"],
            target_kind=r["target_kind"],
            action=r["action"],
            mode=r["mode"],
            status=ActionStatus(r["status"]),
            reason=r["reason"],
            finding_ids=tuple(r["finding_ids"]),
            account=r["account"],
            region=r["region"],
            at=r["at"],
            request_id=r["request_id"],
            response=r["response"],
        )
        for r in rows
    ]

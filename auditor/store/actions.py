"""Remediation actions: the audit trail of automation.

Decisions (planned, held, not applicable) are recorded when they change: the current one
per (target, action, findings) is kept in action_decisions, and a cycle that decides the
same again adds no row. Outcomes (executed, failed) are always recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from auditor.model import ActionRecord, ActionStatus, canonical_json, sha256_hex
from auditor.store.engine import is_in
from auditor.store.snapshots import chunks
from auditor.store.tables import ActionDecisionRow, ActionRow, table

ACTIONS = table(ActionRow)
DECISIONS = table(ActionDecisionRow)
OUTCOMES = frozenset({ActionStatus.EXECUTED, ActionStatus.FAILED})
_UPSERTS: dict[str, Any] = {}
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


def _upsert(dialect: str) -> Any:
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        from sqlalchemy.dialects import postgresql

        base = postgresql.insert(ACTIONS) if dialect == "postgresql" else sqlite.insert(ACTIONS)
        stmt = base.on_conflict_do_update(
            index_elements=[ACTIONS.c.id],
            set_={name: base.excluded[name] for name in _UPDATED},
        )
        _UPSERTS[dialect] = stmt
    return stmt


def write_actions(conn: sa.Connection, actions: Sequence[ActionRecord]) -> None:
    """Insert actions; an id seen before takes the newer status (planned -> executed)."""
    unique = list({a.id: a for a in actions}.values())
    if unique:
        conn.execute(_upsert(conn.dialect.name), [_row(a) for a in unique])


def decision_key(action: ActionRecord) -> str:
    return sha256_hex(
        canonical_json(
            [action.target_arn, action.target_kind, action.action, list(action.finding_ids)]
        )
    )


def _state(action: ActionRecord) -> str:
    response = dict(action.response) if action.response is not None else None
    return sha256_hex(
        canonical_json(
            [
                action.status.value,
                action.reason,
                action.mode,
                action.account,
                action.region,
                response,
            ]
        )
    )


def write_decisions(conn: sa.Connection, actions: Sequence[ActionRecord]) -> None:
    """One cycle's plan: outcomes always; a decision only when it differs from the current one
    for its key. Keys this cycle did not decide stop being current."""
    decisions = {decision_key(a): a for a in actions if a.status not in OUTCOMES}
    current: dict[str, str] = {
        str(k): str(v)
        for k, v in conn.execute(sa.select(DECISIONS.c.decision_key, DECISIONS.c.state_sha256))
    }
    changed = {k: a for k, a in decisions.items() if current.get(k) != _state(a)}
    write_actions(conn, [*(a for a in actions if a.status in OUTCOMES), *changed.values()])
    gone = sorted(set(current) - set(decisions))
    for chunk in chunks(sorted({*gone, *(k for k in changed if k in current)})):
        conn.execute(DECISIONS.delete().where(is_in(conn, DECISIONS.c.decision_key, chunk)))
    if changed:
        conn.execute(
            DECISIONS.insert(),
            [
                {"decision_key": k, "state_sha256": _state(a), "action_id": a.id}
                for k, a in changed.items()
            ],
        )


def current_decisions(conn: sa.Connection) -> list[ActionRecord]:
    """The decision in force for every (target, action, findings) the last plan decided."""
    rows = conn.execute(
        sa.select(ACTIONS)
        .join(DECISIONS, DECISIONS.c.action_id == ACTIONS.c.id)
        .order_by(ACTIONS.c.at, ACTIONS.c.id)
    ).mappings()
    return [_record(r) for r in rows]


def actions_since(conn: sa.Connection, since: datetime) -> list[ActionRecord]:
    rows = conn.execute(
        sa.select(ACTIONS).where(ACTIONS.c.at >= since).order_by(ACTIONS.c.at, ACTIONS.c.id)
    ).mappings()
    return [_record(r) for r in rows]


def _record(r: sa.RowMapping) -> ActionRecord:
    return ActionRecord(
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

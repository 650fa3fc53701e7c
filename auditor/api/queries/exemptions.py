"""Exemptions: requested in the web app, approved by a second person; plus the config's own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import HTTPException

from auditor.api import paging
from auditor.api.models import Exemption, ExemptionPage, ExemptionRequestIn
from auditor.engine.exemptions import Exemption as ConfigExemption
from auditor.model import RuleInfo
from auditor.store import webapp
from auditor.store.tokens import Caller


def _web(row: Mapping[str, Any]) -> Exemption:
    return Exemption(
        id=row["id"],
        source="web",
        rule=row["rule"],
        resource=row["resource"],
        account=row["account"],
        reason=row["reason"],
        owner=row["owner"],
        expires=row["expires"],
        status=row["status"],
        requested_by=row["requested_by"],
        requested_at=row["requested_at"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
    )


def listing(
    conn: sa.Connection,
    config_exemptions: Sequence[ConfigExemption],
    now: datetime,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> ExemptionPage:
    """Web requests newest first; the config's exemptions come with the first page."""
    after = paging.int_cursor(cursor)
    rows = webapp.exemption_requests(conn, status, after, limit + 1)
    more = len(rows) > limit
    items = [_web(r) for r in rows[:limit]]
    if after is None and status in (None, "active", "expired"):
        configured = [
            Exemption(
                id=None,
                source=e.source,
                rule=e.rule,
                resource=e.resource,
                account=e.account,
                reason=e.reason,
                owner=e.owner,
                expires=e.expires,
                status="expired" if e.expired(now) else "active",
            )
            for e in config_exemptions
        ]
        items = [e for e in configured if status in (None, e.status)] + items
    next_cursor = paging.encode([rows[limit - 1]["id"]]) if more else None
    return ExemptionPage(items=items, next_cursor=next_cursor)


def request(
    conn: sa.Connection,
    body: ExemptionRequestIn,
    caller: Caller,
    now: datetime,
    max_days: int,
    rules: Mapping[str, RuleInfo],
) -> int:
    """Record a pending request; 422 when it names no known rule or outlives the maximum."""
    import fnmatch

    if not any(fnmatch.fnmatchcase(r, body.rule) for r in rules):
        raise HTTPException(422, f"rule {body.rule!r} matches no known rule")
    if body.rule.strip("*?.") == "":
        raise HTTPException(422, "an exemption must name a rule (not every rule)")
    if body.expires <= now.date():
        raise HTTPException(422, "expires must be in the future")
    if body.expires > (now + timedelta(days=max_days)).date():
        raise HTTPException(422, f"expires is more than api.max_exemption_days ({max_days}) away")
    return webapp.add_exemption_request(
        conn,
        {
            "rule": body.rule,
            "resource": body.resource,
            "account": body.account,
            "reason": body.reason,
            "owner": body.owner,
            "expires": body.expires,
            "requested_by": caller.name,
            "requested_at": now,
        },
    )


def decide(
    conn: sa.Connection, request_id: int, approve: bool, caller: Caller, now: datetime
) -> None:
    """Four-eyes: whoever requested an exemption cannot approve (or reject) it."""
    row = webapp.exemption_request(conn, request_id)
    if row is None:
        raise HTTPException(404, "no such exemption request")
    if row["requested_by"] == caller.name:
        raise HTTPException(403, "four-eyes: the requester cannot decide their own request")
    decision = webapp.APPROVED if approve else webapp.REJECTED
    if not webapp.decide_exemption_request(conn, request_id, decision, caller.name, now):
        raise HTTPException(409, f"this request is already {row['status']}")

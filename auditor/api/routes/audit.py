"""The append-only audit log of mutating requests."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from auditor.api import paging
from auditor.api.context import AppContext, get_ctx
from auditor.api.db import reading
from auditor.api.deps import CursorParam, LimitParam
from auditor.api.models import AuditEntry, AuditPage
from auditor.api.security import require_role
from auditor.store import webapp

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


def audit_page(ctx: AppContext, cursor: str | None, limit: int) -> AuditPage:
    with reading(ctx) as conn:
        rows = webapp.audit_entries(conn, None, paging.int_cursor(cursor), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        items=[AuditEntry(**r) for r in rows],
        next_cursor=paging.encode([rows[-1]["id"]]) if more and rows else None,
    )


@router.get("", response_model=AuditPage, dependencies=[Depends(require_role("viewer"))])
def list_audit(
    cursor: CursorParam = None, limit: LimitParam = 50, ctx: AppContext = Depends(get_ctx)
) -> AuditPage:
    return audit_page(ctx, cursor, limit)

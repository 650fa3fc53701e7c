"""Exemptions: request (auditor), approve or reject (operator, never one's own request)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from auditor.api.context import AppContext, get_ctx
from auditor.api.db import reading, writing
from auditor.api.deps import CursorParam, LimitParam
from auditor.api.models import Done, ExemptionPage, ExemptionRequestIn
from auditor.api.queries import exemptions as q
from auditor.api.security import require_role
from auditor.store.tokens import Caller

router = APIRouter(prefix="/api/v1/exemptions", tags=["exemptions"])
RequestId = Annotated[int, Path(ge=1, le=2**31 - 1)]
StatusFilter = Literal["pending", "approved", "rejected", "active", "expired"]


@router.get("", response_model=ExemptionPage, dependencies=[Depends(require_role("viewer"))])
def list_exemptions(
    status: Annotated[StatusFilter | None, Query()] = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
    ctx: AppContext = Depends(get_ctx),
) -> ExemptionPage:
    """Web requests (newest first) and, on the first page, the config file's exemptions."""
    with reading(ctx) as conn:
        web_status = status if status in ("pending", "approved", "rejected") else None
        page = q.listing(conn, ctx.config_exemptions, ctx.clock.now(), web_status, cursor, limit)
    if status in ("active", "expired"):
        page.items = [e for e in page.items if e.status == status]
    return page


@router.post("", response_model=Done, status_code=201)
def request_exemption(
    body: ExemptionRequestIn,
    caller: Caller = Depends(require_role("auditor")),
    ctx: AppContext = Depends(get_ctx),
) -> Done:
    """Pending until a second person approves it; it applies from the next cycle."""
    return Done(detail=f"exemption request {submit(ctx, body, caller)} is pending approval")


@router.post("/{request_id}/approve", response_model=Done)
def approve(
    request_id: RequestId,
    caller: Caller = Depends(require_role("operator")),
    ctx: AppContext = Depends(get_ctx),
) -> Done:
    decide(ctx, request_id, True, caller)
    return Done(detail=f"exemption {request_id} approved: it applies from the next cycle")


@router.post("/{request_id}/reject", response_model=Done)
def reject(
    request_id: RequestId,
    caller: Caller = Depends(require_role("operator")),
    ctx: AppContext = Depends(get_ctx),
) -> Done:
    decide(ctx, request_id, False, caller)
    return Done(detail=f"exemption {request_id} rejected")


def submit(ctx: AppContext, body: ExemptionRequestIn, caller: Caller) -> int:
    """Record an exemption request (API and web form alike); its id."""
    with writing(ctx) as conn:
        return q.request(
            conn, body, caller, ctx.clock.now(), ctx.config.max_exemption_days, ctx.rules
        )


def decide(ctx: AppContext, request_id: int, approve: bool, caller: Caller) -> None:
    """Approve or reject an exemption request (API and web form alike)."""
    with writing(ctx) as conn:
        q.decide(conn, request_id, approve, caller, ctx.clock.now())

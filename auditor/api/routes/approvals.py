"""Remediation approvals: the queue of gated actions; an operator approves or rejects each."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from auditor.api.context import AppContext, get_ctx
from auditor.api.db import reading, writing
from auditor.api.deps import CursorParam, LimitParam
from auditor.api.models import ApprovalPage, Done
from auditor.api.queries import approvals as q
from auditor.api.security import require_role
from auditor.store.tokens import Caller

router = APIRouter(prefix="/api/v1/approvals", tags=["approvals"])
ActionId = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("", response_model=ApprovalPage, dependencies=[Depends(require_role("viewer"))])
def list_approvals(
    cursor: CursorParam = None, limit: LimitParam = 50, ctx: AppContext = Depends(get_ctx)
) -> ApprovalPage:
    with reading(ctx) as conn:
        return q.queue(conn, cursor, limit)


@router.post("/{action_id}/approve", response_model=Done)
def approve(
    action_id: ActionId,
    caller: Caller = Depends(require_role("operator")),
    ctx: AppContext = Depends(get_ctx),
) -> Done:
    """The next cycle in enforce mode runs it, still under every safety limit."""
    decide(ctx, action_id, True, caller)
    return Done(detail="approved: the next enforce cycle executes it (within every limit)")


@router.post("/{action_id}/reject", response_model=Done)
def reject(
    action_id: ActionId,
    caller: Caller = Depends(require_role("operator")),
    ctx: AppContext = Depends(get_ctx),
) -> Done:
    decide(ctx, action_id, False, caller)
    return Done(detail="rejected: the action stays held")


def decide(ctx: AppContext, action_id: str, approve: bool, caller: Caller) -> None:
    """Approve or reject a gated remediation action (API and web form alike)."""
    with writing(ctx) as conn:
        q.decide(conn, action_id, approve, caller, ctx.clock.now())

"""API tokens (admin): list them (never their values) and revoke one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from auditor.api import paging
from auditor.api.context import AppContext, get_ctx
from auditor.api.deps import CursorParam, LimitParam
from auditor.api.models import Done, Token, TokenPage
from auditor.api.security import require_role
from auditor.store.tokens import TokenError, list_tokens, revoke_token

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


@router.get("", response_model=TokenPage, dependencies=[Depends(require_role("admin"))])
def tokens(
    cursor: CursorParam = None, limit: LimitParam = 50, ctx: AppContext = Depends(get_ctx)
) -> TokenPage:
    """By name; the cursor is the last name of the previous page."""
    now = ctx.clock.now()
    position = paging.decode(cursor, 1)
    everything = sorted(list_tokens(ctx.store.engine), key=lambda t: t.name)
    if position is not None:
        everything = [t for t in everything if t.name > str(position[0])]
    page = everything[:limit]
    items = [
        Token(
            name=t.name,
            role=t.role,
            created_at=t.created_at,
            expires_at=t.expires_at,
            last_used_at=t.last_used_at,
            status=t.status(now),
        )
        for t in page
    ]
    more = len(everything) > limit
    return TokenPage(
        items=items, next_cursor=paging.encode([page[-1].name]) if more and page else None
    )


@router.post("/{name}/revoke", response_model=Done, dependencies=[Depends(require_role("admin"))])
def revoke(
    name: Annotated[str, Path(min_length=1, max_length=128)], ctx: AppContext = Depends(get_ctx)
) -> Done:
    try:
        revoke_token(ctx.store.engine, name, ctx.clock.now())
    except TokenError as exc:
        raise HTTPException(404, str(exc)) from None
    return Done(detail=f"token {name!r} revoked")

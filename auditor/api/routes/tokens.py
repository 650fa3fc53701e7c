"""API tokens (admin): list them (never their values) and revoke one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from auditor.api.context import AppContext, get_ctx
from auditor.api.models import Done, Token, TokenPage
from auditor.api.security import require_role
from auditor.store.tokens import TokenError, list_tokens, revoke_token

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


@router.get("", response_model=TokenPage, dependencies=[Depends(require_role("admin"))])
def tokens(ctx: AppContext = Depends(get_ctx)) -> TokenPage:
    now = ctx.clock.now()
    items = [
        Token(
            name=t.name,
            role=t.role,
            created_at=t.created_at,
            expires_at=t.expires_at,
            last_used_at=t.last_used_at,
            status=t.status(now),
        )
        for t in list_tokens(ctx.store.engine)
    ]
    return TokenPage(items=items, next_cursor=None)


@router.post("/{name}/revoke", response_model=Done, dependencies=[Depends(require_role("admin"))])
def revoke(
    name: Annotated[str, Path(min_length=1, max_length=128)], ctx: AppContext = Depends(get_ctx)
) -> Done:
    try:
        revoke_token(ctx.store.engine, name, ctx.clock.now())
    except TokenError as exc:
        raise HTTPException(404, str(exc)) from None
    return Done(detail=f"token {name!r} revoked")

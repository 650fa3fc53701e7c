"""The overview: score, trend, coverage, counts by account/framework/rule, new and resolved."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from auditor.api.context import AppContext, get_ctx
from auditor.api.db import reading
from auditor.api.models import Overview
from auditor.api.queries.overview import overview
from auditor.api.security import require_role

router = APIRouter(prefix="/api/v1/overview", tags=["overview"])


@router.get("", response_model=Overview, dependencies=[Depends(require_role("viewer"))])
def get_overview(ctx: AppContext = Depends(get_ctx)) -> Overview:
    with reading(ctx) as conn:
        return overview(conn, ctx.library, ctx.rules)

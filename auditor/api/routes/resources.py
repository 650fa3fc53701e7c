"""A resource: configuration versions with field-level diffs, findings history, actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from auditor.api.context import AppContext, get_ctx
from auditor.api.db import reading
from auditor.api.models import ResourceDetail
from auditor.api.queries.resources import resource_detail
from auditor.api.security import require_role

router = APIRouter(prefix="/api/v1/resources", tags=["resources"])


@router.get("", response_model=ResourceDetail, dependencies=[Depends(require_role("viewer"))])
def get_resource(
    arn: Annotated[str, Query(min_length=1, max_length=2048)],
    ctx: AppContext = Depends(get_ctx),
) -> ResourceDetail:
    """By ARN (a query parameter: ARNs contain slashes)."""
    return find_resource(ctx, arn)


def find_resource(ctx: AppContext, arn: str) -> ResourceDetail:
    """The resource's detail (API and web page alike); 404 when the store never saw it."""
    with reading(ctx) as conn:
        found = resource_detail(conn, arn, ctx.rules)
    if found is None:
        raise HTTPException(404, "no such resource in the store")
    return found

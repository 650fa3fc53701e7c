"""Findings: the explorer's list (filters, free text, sort, cursor) and its export."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from auditor.api.context import AppContext, get_ctx
from auditor.api.db import reading
from auditor.api.deps import CursorParam, LimitParam, SortParam, finding_filter
from auditor.api.models import Finding, FindingPage
from auditor.api.queries import findings as q
from auditor.api.security import require_role
from auditor.store.findings import FINDINGS

router = APIRouter(prefix="/api/v1/findings", tags=["findings"])
EXPORT_CAP = 100_000


@router.get("", response_model=FindingPage, dependencies=[Depends(require_role("viewer"))])
def list_findings(
    flt: q.FindingFilter = Depends(finding_filter),
    sort: SortParam = "-severity",
    cursor: CursorParam = None,
    limit: LimitParam = 50,
    ctx: AppContext = Depends(get_ctx),
) -> FindingPage:
    with reading(ctx) as conn:
        return q.search(conn, flt, ctx.rules, sort, cursor, limit)


@router.get(
    "/export",
    dependencies=[Depends(require_role("auditor"))],
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
def export_findings(
    flt: q.FindingFilter = Depends(finding_filter),
    sort: SortParam = "-severity",
    format: Annotated[Literal["csv", "json"], Query()] = "csv",
    ctx: AppContext = Depends(get_ctx),
) -> Response:
    """The filtered set (up to 100,000) as CSV or JSON: evidence for an auditor."""
    with reading(ctx) as conn:
        rows = q.export_rows(conn, flt, ctx.rules, sort, EXPORT_CAP)
    if format == "json":
        body = json.dumps([r.model_dump(mode="json") for r in rows], indent=1)
        return Response(
            body,
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="findings.json"'},
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(q.CSV_COLUMNS)
    writer.writerows(q.csv_row(r) for r in rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="findings.csv"'},
    )


@router.get("/{finding_id}", response_model=Finding, dependencies=[Depends(require_role("viewer"))])
def get_finding(finding_id: str, ctx: AppContext = Depends(get_ctx)) -> Finding:
    import sqlalchemy as sa

    with reading(ctx) as conn:
        row = conn.execute(sa.select(FINDINGS).where(FINDINGS.c.id == finding_id)).mappings()
        found = row.first()
    if found is None:
        raise HTTPException(404, "no such finding")
    return q.to_model(found, ctx.rules)

"""Report bundles: list, manifest, files, server-side verification, zip download, chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import FileResponse, Response

from auditor.api import paging
from auditor.api.context import AppContext, get_ctx
from auditor.api.deps import CursorParam, LimitParam
from auditor.api.models import Chain, ChainLink, ReportPage, ReportSummary, Verification
from auditor.api.security import require_role

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
ReportId = Annotated[str, Path(max_length=128)]
REPORT_CSP = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def report_page(ctx: AppContext, cursor: str | None, limit: int) -> ReportPage:
    """Newest first; the cursor is the last report id of the previous page."""
    everything = ctx.library.list()
    position = paging.decode(cursor, 1)
    if position is not None:
        everything = [r for r in everything if r["report_id"] < str(position[0])]
    page = everything[:limit]
    more = len(everything) > limit
    return ReportPage(
        items=[ReportSummary(**r) for r in page],
        next_cursor=paging.encode([page[-1]["report_id"]]) if more and page else None,
    )


@router.get("", response_model=ReportPage, dependencies=[Depends(require_role("viewer"))])
def list_reports(
    cursor: CursorParam = None, limit: LimitParam = 50, ctx: AppContext = Depends(get_ctx)
) -> ReportPage:
    return report_page(ctx, cursor, limit)


@router.get(
    "/{report_id}",
    dependencies=[Depends(require_role("viewer"))],
    responses={200: {"content": {"application/json": {}}}},
)
def get_manifest(report_id: ReportId, ctx: AppContext = Depends(get_ctx)) -> Response:
    """The manifest's exact bytes (what the signature covers)."""
    return Response(ctx.library.manifest(report_id), media_type="application/json")


@router.get(
    "/{report_id}/verify",
    response_model=Verification,
    dependencies=[Depends(require_role("auditor"))],
)
def verify(report_id: ReportId, ctx: AppContext = Depends(get_ctx)) -> Verification:
    return Verification(**ctx.library.verify(report_id))


@router.get(
    "/{report_id}/zip",
    dependencies=[Depends(require_role("auditor"))],
    responses={200: {"content": {"application/zip": {}}}},
)
def download_zip(report_id: ReportId, ctx: AppContext = Depends(get_ctx)) -> Response:
    body = ctx.library.zip(report_id)
    return Response(
        body,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{report_id}.zip"'},
    )


@router.get(
    "/{report_id}/chain", response_model=Chain, dependencies=[Depends(require_role("viewer"))]
)
def chain(report_id: ReportId, ctx: AppContext = Depends(get_ctx)) -> Chain:
    links, complete = ctx.library.chain(report_id)
    return Chain(links=[ChainLink(**link) for link in links], complete=complete)


@router.get(
    "/{report_id}/files/{name}",
    dependencies=[Depends(require_role("viewer"))],
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def get_file(
    report_id: ReportId,
    name: Annotated[str, Path(max_length=128)],
    ctx: AppContext = Depends(get_ctx),
) -> Response:
    """A file the bundle's manifest lists (or the manifest or its signature), nothing else.
    report.html is shown inline under a CSP that runs no script at all (its table filter is
    for the downloaded copy; the content reads the same without it)."""
    f = ctx.library.file(report_id, name)
    if name == "report.html":
        return FileResponse(
            f.path,
            media_type=f.content_type,
            headers={"Content-Security-Policy": REPORT_CSP, "Content-Disposition": "inline"},
        )
    return FileResponse(f.path, media_type=f.content_type, filename=f.name)

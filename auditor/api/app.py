"""The FastAPI application: routers per resource, the HTML pages, middleware, JSON errors.

create_app(ctx) is all a server (or a test) needs; the OpenAPI spec is at /api/openapi.json.
"""

from __future__ import annotations

from pathlib import Path

import structlog
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from auditor import __version__
from auditor.api import pages
from auditor.api.context import AppContext
from auditor.api.middleware import AuditLog, BodyLimit, SecurityHeaders
from auditor.api.reports import NotFoundError
from auditor.api.routes import (
    approvals,
    audit,
    exemptions,
    findings,
    health,
    overview,
    reports,
    resources,
    tokens,
)

log = structlog.get_logger("auditor.api")
STATIC = Path(__file__).parent / "static"
DESCRIPTION = """The auditor web app's API: findings, resources, signed reports, exemptions,
remediation approvals and the audit log. Every endpoint but /healthz needs a token
(`Authorization: Bearer TOKEN`); roles: viewer < auditor < operator < admin."""


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/healthz"))


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(
        title="auditor",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    for router in (
        health.router,
        overview.router,
        findings.router,
        resources.router,
        reports.router,
        exemptions.router,
        approvals.router,
        audit.router,
        tokens.router,
        pages.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not _wants_json(request):
            if exc.status_code == 401:
                return RedirectResponse("/login", status_code=303)
            return pages.error_page(request, exc.status_code, str(exc.detail))
        headers = dict(exc.headers or {})
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        ]
        if not _wants_json(request):
            return pages.error_page(request, 422, "; ".join(problems))
        return JSONResponse({"error": "invalid request", "problems": problems}, 422)

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> Response:
        return await http_error(request, HTTPException(404, str(exc)))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        log.error("api.request_failed", path=request.url.path[:200], error=type(exc).__name__)
        return JSONResponse({"error": "internal error"}, 500)

    app.add_middleware(AuditLog)
    app.add_middleware(BodyLimit, max_bytes=ctx.config.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app

"""The HTML pages: server-rendered Jinja2, calling the same query functions as the JSON API.

Forms post to page routes that run the same code as the API routes and redirect back (the
audit log records them as any mutating request). No inline script or style: the CSP forbids it.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from auditor.api import svg
from auditor.api.context import AppContext, get_ctx
from auditor.api.db import reading
from auditor.api.deps import CursorParam, SortParam, finding_filter
from auditor.api.models import ExemptionRequestIn
from auditor.api.queries import approvals as approvals_q
from auditor.api.queries import exemptions as exemptions_q
from auditor.api.queries import findings as findings_q
from auditor.api.queries.overview import overview
from auditor.api.routes import approvals as approval_routes
from auditor.api.routes import exemptions as exemption_routes
from auditor.api.routes.audit import audit_page
from auditor.api.routes.reports import report_page
from auditor.api.routes.resources import find_resource
from auditor.api.security import (
    clear_cookie_header,
    optional_caller,
    require_role,
    set_cookie_header,
)
from auditor.store.tokens import Caller, identify

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("auditor.api", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{v * 100:.1f}%"
    env.filters["when"] = lambda v: "-" if v is None else str(v)[:19].replace("T", " ")
    return env


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    caller = getattr(request.state, "caller", None)
    body = _env().get_template(template).render(caller=caller, path=request.url.path, **values)
    return HTMLResponse(body, status_code=status_code)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status, status=status, message=message)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login")
def login_form(request: Request) -> HTMLResponse:
    return render(request, "login.html", error=None)


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form(max_length=256)] = "",
    ctx: AppContext = Depends(get_ctx),
) -> Response:
    now = ctx.clock.now()
    wait = ctx.throttle.retry_after(_client(request), now)
    if wait:
        page = render(request, "login.html", 429, error="Too many failed logins: wait a minute.")
        page.headers["Retry-After"] = str(wait)
        return page
    caller = identify(ctx.store.engine, token.strip(), now) if token.strip() else None
    if caller is None:
        ctx.throttle.failed(_client(request), now)
        return render(
            request,
            "login.html",
            401,
            error="That token is not valid (unknown, expired or revoked).",
        )
    request.state.caller = caller
    response = RedirectResponse("/", status_code=303)
    response.headers["Set-Cookie"] = set_cookie_header(
        token.strip(), secure=ctx.config.secure_cookies
    )
    return response


@router.post("/logout")
def logout(ctx: AppContext = Depends(get_ctx)) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.headers["Set-Cookie"] = clear_cookie_header(secure=ctx.config.secure_cookies)
    return response


@router.get("/")
def overview_page(
    request: Request,
    caller: Caller = Depends(require_role("viewer")),
    ctx: AppContext = Depends(get_ctx),
) -> HTMLResponse:
    with reading(ctx) as conn:
        data = overview(conn, ctx.library, ctx.rules)
    chart = svg.trend([(p.generated_at or "", p.score) for p in data.trend])
    return render(request, "overview.html", o=data, chart=chart)


@router.get("/findings")
def findings_page(
    request: Request,
    flt: findings_q.FindingFilter = Depends(finding_filter),
    sort: SortParam = "-severity",
    cursor: CursorParam = None,
    caller: Caller = Depends(require_role("viewer")),
    ctx: AppContext = Depends(get_ctx),
) -> HTMLResponse:
    with reading(ctx) as conn:
        page = findings_q.search(conn, flt, ctx.rules, sort, cursor, PAGE_SIZE)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    query = urlencode(params)
    return render(
        request,
        "findings.html",
        page=page,
        flt=flt,
        sort=sort,
        query=query,
        rules=sorted(ctx.rules),
        next_url=f"/findings?{urlencode([*params, ('cursor', page.next_cursor)])}"
        if page.next_cursor
        else None,
    )


@router.get("/resource")
def resource_page(
    request: Request,
    arn: Annotated[str, Query(min_length=1, max_length=2048)],
    caller: Caller = Depends(require_role("viewer")),
    ctx: AppContext = Depends(get_ctx),
) -> HTMLResponse:
    return render(request, "resource.html", r=find_resource(ctx, arn))


@router.get("/reports")
def reports_page(
    request: Request,
    cursor: CursorParam = None,
    caller: Caller = Depends(require_role("viewer")),
    ctx: AppContext = Depends(get_ctx),
) -> HTMLResponse:
    page = report_page(ctx, cursor, 20)
    verified = (
        {r.report_id: ctx.library.verify(r.report_id) for r in page.items}
        if caller.may("auditor")
        else {}
    )
    return render(request, "reports.html", page=page, verified=verified)


@router.get("/reports/{report_id}")
def report_detail_page(
    request: Request,
    report_id: str,
    caller: Caller = Depends(require_role("viewer")),
    ctx: AppContext = Depends(get_ctx),
) -> HTMLResponse:
    links, complete = ctx.library.chain(report_id)
    verified = ctx.library.verify(report_id) if caller.may("auditor") else None
    return render(
        request,
        "report.html",
        report_id=report_id,
        links=links,
        complete=complete,
        verified=verified,
    )


@router.get("/exemptions")
def exemptions_page(
    request: Request,
    caller: Caller = Depends(require_role("viewer")),
    ctx: AppContext = Depends(get_ctx),
) -> HTMLResponse:
    with reading(ctx) as conn:
        page = exemptions_q.listing(conn, ctx.config_exemptions, ctx.clock.now(), None, None, 200)
    today = ctx.clock.now().date()
    return render(
        request,
        "exemptions.html",
        page=page,
        rules=sorted(ctx.rules),
        default_expiry=(today + timedelta(days=min(30, ctx.config.max_exemption_days))),
        max_expiry=today + timedelta(days=ctx.config.max_exemption_days),
        message=request.query_params.get("message"),
    )


@router.post("/exemptions")
def request_exemption_form(
    request: Request,
    rule: Annotated[str, Form(max_length=128)],
    resource: Annotated[str, Form(max_length=2048)],
    reason: Annotated[str, Form(max_length=2000)],
    owner: Annotated[str, Form(max_length=128)],
    expires: Annotated[date, Form()],
    account: Annotated[str, Form(max_length=12)] = "",
    caller: Caller = Depends(require_role("auditor")),
    ctx: AppContext = Depends(get_ctx),
) -> Response:
    try:
        body = ExemptionRequestIn(
            rule=rule,
            resource=resource,
            reason=reason,
            owner=owner,
            expires=expires,
            account=account or None,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise HTTPException(422, problems) from None
    new_id = exemption_routes.submit(ctx, body, caller)
    return _back(
        "/exemptions", f"Exemption request {new_id} is pending a second person's approval."
    )


@router.post("/exemptions/{request_id}/{verdict}")
def decide_exemption_form(
    request_id: int,
    verdict: str,
    caller: Caller = Depends(require_role("operator")),
    ctx: AppContext = Depends(get_ctx),
) -> Response:
    exemption_routes.decide(ctx, request_id, _approves(verdict), caller)
    return _back("/exemptions", f"Exemption {request_id}: {verdict}d.")


@router.get("/approvals")
def approvals_page(
    request: Request,
    caller: Caller = Depends(require_role("viewer")),
    ctx: AppContext = Depends(get_ctx),
) -> HTMLResponse:
    with reading(ctx) as conn:
        page = approvals_q.queue(conn, None, 200)
    return render(request, "approvals.html", page=page, message=request.query_params.get("message"))


@router.post("/approvals/{action_id}/{verdict}")
def decide_approval_form(
    action_id: str,
    verdict: str,
    caller: Caller = Depends(require_role("operator")),
    ctx: AppContext = Depends(get_ctx),
) -> Response:
    approval_routes.decide(ctx, action_id, _approves(verdict), caller)
    return _back("/approvals", f"Action {action_id[:12]}: {verdict}d.")


@router.get("/audit")
def audit_log_page(
    request: Request,
    cursor: CursorParam = None,
    caller: Caller = Depends(require_role("viewer")),
    ctx: AppContext = Depends(get_ctx),
) -> HTMLResponse:
    return render(request, "audit.html", page=audit_page(ctx, cursor, 100))


def _approves(verdict: str) -> bool:
    if verdict not in ("approve", "reject"):
        raise HTTPException(404, "not found")
    return verdict == "approve"


def _back(path: str, message: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode({'message': message})}", status_code=303)


__all__ = ["error_page", "optional_caller", "router"]

"""ASGI middleware: security headers on every response, a request body size limit, and the
append-only audit log of mutating requests."""

from __future__ import annotations

from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auditor.store import webapp

log = structlog.get_logger("auditor.api")

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
)
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SecurityHeaders:
    """nosniff, no referrer, no framing, no caching, and a CSP without inline script (a
    route that serves a file with its own CSP keeps it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                # the path only: never the query string or a header (tokens travel there)
                log.info(
                    "api.request",
                    method=scope["method"],
                    path=str(scope.get("path", ""))[:200],
                    status=message["status"],
                )
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, wrapped)


HTTP_VERSIONS = frozenset({"1.0", "1.1"})
MAX_TARGET_BYTES = 8 * 1024
MAX_HEADER_BYTES = 16 * 1024


class BodyLimit:
    """505 for an HTTP version we do not speak; 413 for a body over `max_bytes`, by
    Content-Length or counted as it streams in (the app then sees the client gone)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("http_version") not in HTTP_VERSIONS:
            await _reject(send, 505, "HTTP version not supported (use HTTP/1.1)")
            return
        target = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        if b"%00" in target or b"\x00" in target:
            await _reject(send, 400, "NUL byte in the request target")
            return
        if len(target) > MAX_TARGET_BYTES:
            await _reject(send, 414, "request URI too long")
            return
        if sum(len(k) + len(v) for k, v in scope.get("headers", [])) > MAX_HEADER_BYTES:
            await _reject(send, 431, "request headers too large")
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await _reject(send, 413, "request body too large")
                return
        seen = 0
        started = refused = False

        async def limited() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    if not started:
                        await _reject(send, 413, "request body too large")
                    return {"type": "http.disconnect"}
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the client already has its 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited, tracking)


async def _reject(send: Send, status: int, error: str) -> None:
    body = (f'{{"error": "{error}"}}\n').encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AuditLog:
    """Every mutating request (who, what, when, outcome) appended to the audit log, whatever
    its outcome: a refused attempt is as much a record as a granted one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING:
            await self.app(scope, receive, send)
            return
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            _record(scope, status)


def _record(scope: Scope, status: int) -> None:
    app: Any = scope.get("app")
    ctx = getattr(getattr(app, "state", None), "ctx", None)
    if ctx is None:
        return
    caller = scope.get("state", {}).get("caller")
    try:
        engine = ctx.store.engine
        with engine.connect().execution_options(auditor_write=True) as conn, conn.begin():
            webapp.append_audit(
                conn,
                ctx.clock.now(),
                caller.name if caller is not None else None,
                caller.role if caller is not None else None,
                str(scope["method"]),
                str(scope.get("path", ""))[:256],
                status,
            )
    except Exception as exc:  # the request already happened; say the record failed
        log.error("api.audit_log_failed", error=type(exc).__name__)

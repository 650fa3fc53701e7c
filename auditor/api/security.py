"""Who is calling (a bearer token, or the login cookie) and what their role lets them do.

Roles are ordered: viewer < auditor < operator < admin; each may do what the one before may.
`Depends(require_role("operator"))` is how a route states who may call it.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, HTTPException, Request

from auditor.api.context import AppContext, get_ctx
from auditor.store.tokens import ROLES, Caller, identify

COOKIE = "auditor_token"


class NotLoggedIn(HTTPException):
    """401: no valid token. Pages turn it into a redirect to the login form."""

    def __init__(self) -> None:
        super().__init__(401, "a valid API token is required (Authorization: Bearer TOKEN)")


def presented_token(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie = request.cookies.get(COOKIE)
    return cookie or None


def optional_caller(request: Request, ctx: AppContext = Depends(get_ctx)) -> Caller | None:
    token = presented_token(request)
    caller = identify(ctx.store.engine, token, ctx.clock.now()) if token else None
    request.state.caller = caller
    return caller


def require_role(role: str) -> Callable[..., Caller]:
    """A dependency: the caller, if their token is valid and their role is at least `role`."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def dependency(caller: Caller | None = Depends(optional_caller)) -> Caller:
        if caller is None:
            raise NotLoggedIn()
        if not caller.may(role):
            raise HTTPException(403, f"this needs the {role} role (you are {caller.role})")
        return caller

    dependency.__name__ = f"require_{role}"
    return dependency


def set_cookie_header(token: str, *, secure: bool) -> str:
    flags = "; Secure" if secure else ""
    return f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{flags}"


def clear_cookie_header(*, secure: bool) -> str:
    flags = "; Secure" if secure else ""
    return f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{flags}"

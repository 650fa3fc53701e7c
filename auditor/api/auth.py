"""Who is calling: a bearer token, or the login cookie the web page sets.

The cookie is HttpOnly and SameSite=Strict: scripts cannot read it and other sites cannot
make the browser send it, which is what makes a cookie-authenticated POST /logout safe.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import Message
from http.cookies import CookieError, SimpleCookie

COOKIE = "auditor_token"
Authenticate = Callable[[str], str | None]  # token -> token name, None when not valid


def bearer_token(headers: Message) -> str | None:
    value = headers.get("Authorization")
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def cookie_token(headers: Message) -> str | None:
    raw = headers.get("Cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def set_cookie(token: str) -> str:
    return f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"


def clear_cookie() -> str:
    return f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"

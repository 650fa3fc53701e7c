"""API tokens: only the SHA-256 of a token is stored; the token itself is shown once.

A token is `aud_` + secrets.token_urlsafe(32). Authentication hashes the presented token and
looks the hash up; a revoked or expired token is refused. last_used_at is written at most
once a minute per token, so a busy client does not turn every read into a write.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from auditor.errors import BadInputError
from auditor.store.engine import WRITE
from auditor.store.tables import UTCDateTime, table

ROLES = ("viewer", "auditor", "operator", "admin")  # each includes what the previous may do
TOKEN_PREFIX = "aud_"  # noqa: S105 - a prefix, not a secret
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(BadInputError):
    """A duplicate or unknown token name (exit 2)."""


class ApiTokenRow(SQLModel, table=True):
    """One API token: its name, the SHA-256 of its value and its lifetime."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    token_sha256: str = Field(max_length=64, unique=True)
    role: str = Field(default="viewer", max_length=16)
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    expires_at: datetime | None = Field(
        default=None, sa_column=sa.Column(UTCDateTime(), nullable=True)
    )
    last_used_at: datetime | None = Field(
        default=None, sa_column=sa.Column(UTCDateTime(), nullable=True)
    )
    revoked_at: datetime | None = Field(
        default=None, sa_column=sa.Column(UTCDateTime(), nullable=True)
    )


TOKENS = table(ApiTokenRow)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never its value or hash."""

    name: str
    role: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _info(row: Any) -> TokenInfo:
    m = row._mapping
    return TokenInfo(
        name=m["name"],
        role=m["role"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )


@dataclass(frozen=True, slots=True)
class Caller:
    """Who presented a valid token: its name (the identity four-eyes checks) and role."""

    name: str
    role: str

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def create_token(
    engine: sa.Engine,
    name: str,
    now: datetime,
    expires_at: datetime | None = None,
    role: str = "viewer",
) -> str:
    """Store a new token named `name` and return its value (the only time it is known)."""
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r} (valid: {', '.join(ROLES)})")
    name = name.strip()
    if not name:
        raise TokenError("a token needs a non-empty --name")
    if len(name) > 128:
        raise TokenError("token name longer than 128 characters")
    if expires_at is not None and expires_at <= now:
        raise TokenError(f"--expires {expires_at.date().isoformat()} is not in the future")
    token = new_token()
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        taken = conn.execute(sa.select(TOKENS.c.id).where(TOKENS.c.name == name)).first()
        if taken is not None:
            raise TokenError(f"a token named {name!r} already exists")
        conn.execute(
            TOKENS.insert().values(
                name=name,
                token_sha256=hash_token(token),
                role=role,
                created_at=now,
                expires_at=expires_at,
            )
        )
    return token


def list_tokens(engine: sa.Engine) -> list[TokenInfo]:
    """Every token, oldest first."""
    cols = (
        TOKENS.c.name,
        TOKENS.c.role,
        TOKENS.c.created_at,
        TOKENS.c.expires_at,
        TOKENS.c.last_used_at,
    )
    stmt = sa.select(*cols, TOKENS.c.revoked_at).order_by(TOKENS.c.created_at, TOKENS.c.id)
    with engine.connect() as conn, conn.begin():
        return [_info(r) for r in conn.execute(stmt)]


def revoke_token(engine: sa.Engine, name: str, now: datetime) -> None:
    """Revoke the token named `name` (idempotent for an already revoked one)."""
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        row = conn.execute(
            sa.select(TOKENS.c.id, TOKENS.c.revoked_at).where(TOKENS.c.name == name)
        ).first()
        if row is None:
            raise TokenError(f"no token named {name!r}")
        if row.revoked_at is None:
            conn.execute(TOKENS.update().where(TOKENS.c.id == row.id).values(revoked_at=now))


def authenticate(engine: sa.Engine, token: str, now: datetime) -> str | None:
    """The name of the valid (known, unrevoked, unexpired) token, else None."""
    caller = identify(engine, token, now)
    return caller.name if caller is not None else None


def identify(engine: sa.Engine, token: str, now: datetime) -> Caller | None:
    """The caller of a valid (known, unrevoked, unexpired) token, else None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 256:
        return None
    digest = hash_token(token)
    stmt = sa.select(
        TOKENS.c.id,
        TOKENS.c.name,
        TOKENS.c.role,
        TOKENS.c.token_sha256,
        TOKENS.c.expires_at,
        TOKENS.c.last_used_at,
        TOKENS.c.revoked_at,
    ).where(TOKENS.c.token_sha256 == digest)
    with engine.connect() as conn, conn.begin():
        row = conn.execute(stmt).first()
    if row is None or not hmac.compare_digest(row.token_sha256, digest):
        return None
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        with engine.connect().execution_options(**WRITE) as conn, conn.begin():
            conn.execute(TOKENS.update().where(TOKENS.c.id == row.id).values(last_used_at=now))
    role = str(row.role) if row.role in ROLES else "viewer"
    return Caller(str(row.name), role)

"""Tables the web app writes: exemption requests, remediation approvals, the audit log."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from auditor.store.tables import UTCDateTime, table


def _ts(*, nullable: bool = False) -> datetime:
    column: sa.Column[datetime] = sa.Column(UTCDateTime(), nullable=nullable)
    return Field(default=None, sa_column=column) if nullable else Field(sa_column=column)  # type: ignore[no-any-return]


class ExemptionRequestRow(SQLModel, table=True):
    """An exemption asked for in the web app; it applies once a second person approved it."""

    __tablename__ = "exemption_requests"

    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=128)
    resource: str = Field(max_length=2048)
    account: str | None = Field(default=None, max_length=32)
    reason: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    owner: str = Field(max_length=128)
    expires: date
    status: str = Field(max_length=16, index=True)  # pending | approved | rejected
    requested_by: str = Field(max_length=128)
    requested_at: datetime = _ts()
    decided_by: str | None = Field(default=None, max_length=128)
    decided_at: datetime | None = _ts(nullable=True)


class ApprovalRow(SQLModel, table=True):
    """An operator's decision on a planned action (target + action, stable across cycles)."""

    __tablename__ = "remediation_approvals"

    id: int | None = Field(default=None, primary_key=True)
    action_id: str = Field(max_length=128)
    target_arn: str = Field(max_length=2048, index=True)
    action: str = Field(max_length=64)
    decision: str = Field(max_length=16)  # approved | rejected
    decided_by: str = Field(max_length=128)
    decided_at: datetime = _ts()


class AuditLogRow(SQLModel, table=True):
    """Append-only: one mutating request, who made it and what came of it."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
    actor: str | None = Field(default=None, max_length=128)
    role: str | None = Field(default=None, max_length=16)
    method: str = Field(max_length=8)
    path: str = Field(max_length=256)
    status: int


EXEMPTION_REQUESTS = table(ExemptionRequestRow)
APPROVALS = table(ApprovalRow)
AUDIT_LOG = table(AuditLogRow)

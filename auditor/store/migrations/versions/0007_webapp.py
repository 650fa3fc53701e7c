"""The web app: token roles, exemption requests, remediation approvals, the audit log.

Tokens created before this revision become `viewer` (fail closed: least privilege).

Revision ID: 0007_webapp
Revises: 0002_api_tokens
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_webapp"
down_revision: str | None = "0002_api_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


FINDING_INDEXES = (
    ("ix_findings_open_account", "(resource->>'account'), severity"),
    ("ix_findings_open_region", "(resource->>'region')"),
    ("ix_findings_open_severity", "severity, first_seen"),
    ("ix_findings_open_owner", "((resource->'tags')->>'owner')"),
)


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="viewer"))
    op.create_table(
        "exemption_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("resource", sa.String(2048), nullable=False),
        sa.Column("account", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("expires", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("requested_by", sa.String(128), nullable=False),
        _ts("requested_at"),
        sa.Column("decided_by", sa.String(128), nullable=True),
        _ts("decided_at", nullable=True),
    )
    op.create_table(
        "remediation_approvals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("action_id", sa.String(128), nullable=False),
        sa.Column("target_arn", sa.String(2048), nullable=False, index=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=False),
        _ts("decided_at"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _ts("at"),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(256), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    if op.get_bind().dialect.name == "postgresql":
        # the findings explorer filters open findings by these resource fields
        for name, expr in FINDING_INDEXES:
            op.execute(f"CREATE INDEX {name} ON findings ({expr}) WHERE resolved_at IS NULL")
        op.execute("CREATE INDEX ix_findings_arn ON findings ((resource->>'arn'))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _ in FINDING_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute("DROP INDEX IF EXISTS ix_findings_arn")
    op.drop_index("ix_audit_log_at", "audit_log")
    op.drop_table("audit_log")
    op.drop_table("remediation_approvals")
    op.drop_table("exemption_requests")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("role")

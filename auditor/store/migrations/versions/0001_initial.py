"""The initial schema: cycles, content-addressed resource configurations, findings and their
history, remediation actions, the alert outbox and leases.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "cycles",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(128), nullable=False, unique=True),
        _ts("started_at"),
        _ts("finished_at"),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("gaps", sa.JSON(), nullable=False),
        sa.Column("api_calls", sa.JSON(), nullable=False),
        sa.Column("resource_count", sa.Integer(), nullable=False),
        _ts("evaluated_at", nullable=True),
        sa.Column("rule_stats", sa.JSON(), nullable=True),
        sa.Column("report_id", sa.String(128), nullable=True),
        sa.Column("cycle_metadata", sa.JSON(), nullable=False),
    )
    op.create_index("ix_cycles_started_at", "cycles", ["started_at"])

    op.create_table(
        "snapshot_observations",
        sa.Column(
            "cycle_seq",
            sa.Integer(),
            sa.ForeignKey("cycles.seq", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("encoding", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )

    op.create_table(
        "resource_configs",
        sa.Column("config_hash", sa.String(64), primary_key=True),
        sa.Column("document", sa.JSON(), nullable=False),
    )

    op.create_table(
        "resource_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("arn", sa.String(2048), nullable=False),
        sa.Column(
            "config_hash",
            sa.String(64),
            sa.ForeignKey("resource_configs.config_hash"),
            nullable=False,
            unique=True,
        ),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("first_snapshot_id", sa.String(128), nullable=False),
        _ts("first_seen"),
        sa.Column("last_seq", sa.Integer(), nullable=True),
        sa.Column("last_snapshot_id", sa.String(128), nullable=True),
        _ts("last_seen", nullable=True),
    )
    op.create_index("ix_resource_versions_arn", "resource_versions", ["arn"])
    op.create_index("ix_resource_versions_last_seq", "resource_versions", ["last_seq"])

    op.create_table(
        "findings",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resource", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("exemption", sa.JSON(), nullable=True),
        _ts("first_seen"),
        _ts("last_seen"),
        sa.Column("consecutive_cycles", sa.Integer(), nullable=False),
        _ts("resolved_at", nullable=True),
    )
    op.create_index("ix_findings_rule_id", "findings", ["rule_id"])
    op.create_index("ix_findings_resolved_at", "findings", ["resolved_at"])

    op.create_table(
        "finding_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "cycle_id",
            sa.String(128),
            sa.ForeignKey("cycles.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "finding_id",
            sa.String(64),
            sa.ForeignKey("findings.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        _ts("at"),
    )
    op.create_index("ix_finding_events_finding_id", "finding_events", ["finding_id"])
    op.create_index("ix_finding_events_at", "finding_events", ["at"])

    op.create_table(
        "actions",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("cycle_id", sa.String(128), nullable=False),
        sa.Column("target_arn", sa.String(2048), nullable=False),
        sa.Column("target_kind", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("finding_ids", sa.JSON(), nullable=False),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        _ts("at"),
        sa.Column("request_id", sa.String(256), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
    )
    op.create_index("ix_actions_cycle_id", "actions", ["cycle_id"])
    op.create_index("ix_actions_at", "actions", ["at"])

    op.create_table(
        "outbox",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(256), nullable=False, unique=True),
        sa.Column("destination", sa.String(256), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        _ts("created_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("sent_at", nullable=True),
    )
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"])
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])

    op.create_table(
        "leases",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(256), nullable=False),
        _ts("expires_at"),
    )


def downgrade() -> None:
    for name in (
        "leases",
        "outbox",
        "actions",
        "finding_events",
        "findings",
        "resource_versions",
        "resource_configs",
        "snapshot_observations",
        "cycles",
    ):
        op.drop_table(name)

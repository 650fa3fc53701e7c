"""Distributed collection: one row per (cycle, account, region, service) unit.

Revision ID: 0005_work_units
Revises: 0004_transitions
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_work_units"
down_revision: str | None = "0004_transitions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "work_units",
        sa.Column("cycle_id", sa.String(128), primary_key=True),
        sa.Column("account", sa.String(32), primary_key=True),
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("service", sa.String(16), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("worker", sa.String(256), nullable=True),
        sa.Column("enqueued_at", ts, nullable=True),
        sa.Column("started_at", ts, nullable=True),
        sa.Column("deadline_at", ts, nullable=True),
        sa.Column("lease_until", ts, nullable=True),
        sa.Column("finished_at", ts, nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("throttles", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("api_calls", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.LargeBinary(), nullable=True),
        sa.Column("reported", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_work_units_enqueued_at", "work_units", ["enqueued_at"])
    op.create_index("ix_work_units_worker_state", "work_units", ["worker", "state"])


def downgrade() -> None:
    op.drop_table("work_units")

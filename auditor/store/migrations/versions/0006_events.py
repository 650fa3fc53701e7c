"""Event feed: the events a micro-cycle used (idempotency by event id, attribution, shells).

Revision ID: 0006_events
Revises: 0007_webapp
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_events"
down_revision: str | None = "0007_webapp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(256), primary_key=True),
        sa.Column("detail_type", sa.String(128), nullable=False),
        sa.Column("event_name", sa.String(128), nullable=False),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("cycle_id", sa.String(128), nullable=True),
        sa.Column("attribution", sa.JSON(), nullable=True),
    )
    op.create_table(
        "event_resources",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "event_id",
            sa.String(256),
            sa.ForeignKey("events.event_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("arn", sa.String(2048), nullable=False, index=True),
        sa.Column("access_kind", sa.String(32), nullable=True, index=True),
        sa.Column("session_id", sa.String(256), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("event_resources")
    op.drop_table("events")

"""The report chain ledger: every report a cycle owes, its sequence once published, and
reports that could not be published (declared as missing in the chain).

Revision ID: 0003_report_chain
Revises: 0005_work_units
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_report_chain"
down_revision: str | None = "0005_work_units"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_chain",
        sa.Column("report_id", sa.String(128), primary_key=True),
        sa.Column("cycle_id", sa.String(128), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=True, unique=True),
        sa.Column("manifest_sha256", sa.String(64), nullable=True),
        sa.Column("generated_at", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("declared_in", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_report_chain_cycle_id", "report_chain", ["cycle_id"])


def downgrade() -> None:
    op.drop_index("ix_report_chain_cycle_id", table_name="report_chain")
    op.drop_table("report_chain")

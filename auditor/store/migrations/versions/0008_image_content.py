"""What is inside an ECR image, by digest: the persistent cache of `imageContent`.

A digest is immutable, so what a scan found in it (already redacted: location, detector,
short hash, never a value) holds forever for the same scan scope. Rows are only ever
inserted (insert-if-absent), never updated.

Revision ID: 0008_image_content
Revises: 0003_report_chain
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_image_content"
down_revision: str | None = "0003_report_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "image_content",
        sa.Column("digest", sa.String(128), primary_key=True),
        sa.Column("scope", sa.String(128), primary_key=True),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("first_read_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("image_content")

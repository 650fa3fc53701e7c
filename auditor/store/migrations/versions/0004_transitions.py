"""Cost follows change: findings as open ranges, transitions-only events, decisions on change.

- cycles.ordinal (1, 2, 3 ... without holes) and cycles.seen_at (when the findings were
  judged);
- findings.seen_ordinal / live / content_sha256: a finding still observed unchanged is not
  rewritten; its last_seen and consecutive_cycles follow the latest cycle;
- finding_events keeps transitions only: the per-cycle "open" (and repeated "exempt") rows
  that repeat the previous event's status and severity are folded away (the cycles between
  two transitions are the range); an "open" row that did change status or severity becomes
  "changed". No transition is lost;
- action_decisions: the current decision per (target, action, findings). It starts empty,
  so the first cycle after the upgrade records every decision once more.

Revision ID: 0004_transitions
Revises: 0006_events
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_transitions"
down_revision: str | None = "0006_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch copy: on SQLite a batch recreates the table, and
    # dropping the old findings table would cascade to finding_events.
    op.add_column("cycles", sa.Column("ordinal", sa.Integer(), nullable=True))
    op.add_column("cycles", sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_cycles_ordinal", "cycles", ["ordinal"])
    op.add_column("findings", sa.Column("seen_ordinal", sa.Integer(), nullable=True))
    op.add_column(
        "findings", sa.Column("live", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("findings", sa.Column("content_sha256", sa.String(64), nullable=True))
    op.create_table(
        "action_decisions",
        sa.Column("decision_key", sa.String(64), primary_key=True),
        sa.Column("state_sha256", sa.String(64), nullable=False),
        sa.Column("action_id", sa.String(128), nullable=False),
    )

    op.execute(
        "UPDATE cycles SET ordinal = r.rn FROM "
        "(SELECT seq, row_number() OVER (ORDER BY seq) AS rn FROM cycles) AS r "
        "WHERE cycles.seq = r.seq"
    )
    # Every open finding was rewritten by the latest cycle: the ones it observed carry its
    # time as last_seen (those it carried over unobserved keep an older one).
    op.execute(
        "UPDATE cycles SET seen_at = COALESCE("
        " (SELECT MAX(f.last_seen) FROM findings f"
        "  WHERE f.resolved_at IS NULL AND f.last_seen >= cycles.started_at),"
        " evaluated_at, finished_at) "
        "WHERE seq = (SELECT MAX(seq) FROM cycles)"
    )
    op.execute(
        "UPDATE findings SET "
        "seen_ordinal = (SELECT MAX(ordinal) FROM cycles), "
        "live = CASE WHEN resolved_at IS NULL AND last_seen = "
        " (SELECT seen_at FROM cycles WHERE seq = (SELECT MAX(seq) FROM cycles)) "
        " THEN TRUE ELSE FALSE END"
    )

    # Fold the per-cycle rows: an "open"/"exempt" event that repeats the previous event's
    # status and severity (and does not follow a resolution) records no transition.
    op.execute(
        "DELETE FROM finding_events WHERE id IN ("
        " SELECT id FROM ("
        "  SELECT id, event, status, severity,"
        "   LAG(event) OVER (PARTITION BY finding_id ORDER BY id) AS p_event,"
        "   LAG(status) OVER (PARTITION BY finding_id ORDER BY id) AS p_status,"
        "   LAG(severity) OVER (PARTITION BY finding_id ORDER BY id) AS p_severity"
        "  FROM finding_events) AS e"
        " WHERE e.event IN ('open', 'exempt') AND e.p_event IS NOT NULL"
        "  AND e.p_event <> 'resolved' AND e.status = e.p_status"
        "  AND e.severity = e.p_severity)"
    )
    op.execute("UPDATE finding_events SET event = 'changed' WHERE event = 'open'")


def downgrade() -> None:
    op.execute(
        "UPDATE finding_events SET event = 'open' WHERE event IN ('changed', 'exemption_ended')"
    )
    op.drop_table("action_decisions")
    for column in ("content_sha256", "live", "seen_ordinal"):
        op.drop_column("findings", column)  # SQLite >= 3.35 drops a column in place
    op.drop_index("ix_cycles_ordinal", table_name="cycles")
    op.drop_column("cycles", "seen_at")
    op.drop_column("cycles", "ordinal")

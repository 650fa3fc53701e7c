"""The store's tables, as SQLModel classes.

Schema changes go through Alembic (migrations/versions/); these classes describe the head
revision and are what the repository code queries. Every timestamp column is a UTCDateTime:
stored as UTC, returned tz-aware UTC on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """tz-aware UTC in, tz-aware UTC out; naive datetimes are refused, never guessed."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the store keeps tz-aware UTC only")
        value = value.astimezone(UTC)
        # SQLite has no time zones: keep naive UTC text, which also sorts correctly
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))


def _text(*, nullable: bool = False) -> Any:
    column = sa.Column(sa.Text(), nullable=nullable)
    return Field(default=None, sa_column=column) if nullable else Field(sa_column=column)


def _json(*, nullable: bool = False) -> Any:
    return Field(sa_column=sa.Column(sa.JSON(), nullable=nullable))


class CycleRow(SQLModel, table=True):
    """One committed cycle: its snapshot's metadata, evaluation stats and report id."""

    __tablename__ = "cycles"

    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(max_length=128, unique=True)
    started_at: datetime = _ts(index=True)
    finished_at: datetime = _ts()
    scope: dict[str, Any] = _json()
    gaps: list[Any] = _json()
    api_calls: dict[str, Any] = _json()
    resource_count: int
    evaluated_at: datetime | None = _ts(nullable=True)
    rule_stats: list[Any] | None = _json(nullable=True)
    report_id: str | None = Field(default=None, max_length=128)
    cycle_metadata: dict[str, Any] = _json()
    # 1, 2, 3 ... with no holes (seq may skip after a rollback on PostgreSQL): how many
    # cycles a finding stayed open is a difference of ordinals
    ordinal: int | None = Field(default=None, index=True)
    # the time the cycle's findings were judged (their last_seen when still observed)
    seen_at: datetime | None = _ts(nullable=True)


class ObservationRow(SQLModel, table=True):
    """Which resource versions one snapshot saw, and when: one compressed row per snapshot."""

    __tablename__ = "snapshot_observations"

    cycle_seq: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("cycles.seq", ondelete="CASCADE"), primary_key=True
        )
    )
    encoding: str = Field(max_length=32)
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary(), nullable=False))


class ConfigRow(SQLModel, table=True):
    """One resource configuration, stored once per content hash; never updated."""

    __tablename__ = "resource_configs"

    config_hash: str = Field(primary_key=True, max_length=64)
    document: dict[str, Any] = _json()


class VersionRow(SQLModel, table=True):
    """One distinct configuration of one resource, with the first and last cycle that saw it."""

    __tablename__ = "resource_versions"

    id: int | None = Field(default=None, primary_key=True)
    arn: str = Field(max_length=2048, index=True)
    config_hash: str = Field(
        sa_column=sa.Column(
            sa.String(64),
            sa.ForeignKey("resource_configs.config_hash"),
            nullable=False,
            unique=True,
        )
    )
    kind: str = Field(max_length=64)
    account: str = Field(max_length=32)
    region: str = Field(max_length=32)
    first_seq: int
    first_snapshot_id: str = Field(max_length=128)
    first_seen: datetime = _ts()
    # NULL while the version is current (in the latest snapshot); set when it stops being seen
    last_seq: int | None = Field(default=None, index=True)
    last_snapshot_id: str | None = Field(default=None, max_length=128)
    last_seen: datetime | None = _ts(nullable=True)


class FindingRow(SQLModel, table=True):
    """The current state of one tracked finding (id = fingerprint of rule + resource)."""

    __tablename__ = "findings"

    id: str = Field(primary_key=True, max_length=64)
    rule_id: str = Field(max_length=128, index=True)
    severity: str = Field(max_length=16)
    status: str = Field(max_length=16)
    resource: dict[str, Any] = _json()
    message: str = _text()
    evidence: dict[str, Any] = _json()
    exemption: dict[str, Any] | None = _json(nullable=True)
    first_seen: datetime = _ts()
    last_seen: datetime = _ts()
    consecutive_cycles: int
    resolved_at: datetime | None = _ts(nullable=True, index=True)
    # Open-range representation: the row is written when the finding changes, not every
    # cycle. last_seen/consecutive_cycles are as of cycle `seen_ordinal`; while `live` (still
    # observed by every cycle since) they advance with the latest cycle without a write.
    seen_ordinal: int | None = Field(default=None)
    live: bool = Field(default=False)
    content_sha256: str | None = Field(default=None, max_length=64)


class FindingEventRow(SQLModel, table=True):
    """Append-only transitions of a finding: new, resolved, changed (status or severity),
    exempt, exemption_ended. A cycle in which a finding stays as it was adds no event."""

    __tablename__ = "finding_events"

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(
        sa_column=sa.Column(
            sa.String(128), sa.ForeignKey("cycles.id", ondelete="CASCADE"), nullable=False
        )
    )
    finding_id: str = Field(
        sa_column=sa.Column(
            sa.String(64),
            sa.ForeignKey("findings.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    event: str = Field(max_length=16)
    status: str = Field(max_length=16)
    severity: str = Field(max_length=16)
    at: datetime = _ts(index=True)


class ActionRow(SQLModel, table=True):
    """One planned, held or executed remediation action."""

    __tablename__ = "actions"

    id: str = Field(primary_key=True, max_length=128)
    cycle_id: str = Field(max_length=128, index=True)
    target_arn: str = Field(max_length=2048)
    target_kind: str = Field(max_length=64)
    action: str = Field(max_length=64)
    mode: str = Field(max_length=16)
    status: str = Field(max_length=32)
    reason: str = _text()
    finding_ids: list[Any] = _json()
    account: str = Field(max_length=32)
    region: str = Field(max_length=32)
    at: datetime = _ts(index=True)
    request_id: str | None = Field(default=None, max_length=256)
    response: dict[str, Any] | None = _json(nullable=True)


class ActionDecisionRow(SQLModel, table=True):
    """The current remediation decision per (target, action, findings): a decision that
    stays the same cycle after cycle is recorded once, in `actions`, when it changes."""

    __tablename__ = "action_decisions"

    decision_key: str = Field(primary_key=True, max_length=64)
    state_sha256: str = Field(max_length=64)
    action_id: str = Field(max_length=128)


class OutboxRow(SQLModel, table=True):
    """An alert waiting for (or done with) delivery; `key` makes enqueueing idempotent."""

    __tablename__ = "outbox"

    seq: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=256, unique=True)
    destination: str = Field(max_length=256)
    payload: dict[str, Any] = _json()
    created_at: datetime = _ts(index=True)
    attempts: int = 0
    last_error: str | None = _text(nullable=True)
    sent_at: datetime | None = _ts(nullable=True, index=True)


class LeaseRow(SQLModel, table=True):
    """A named lease (leader election): held by `holder` until `expires_at`."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=128)
    holder: str = Field(max_length=256)
    expires_at: datetime = _ts()


class ReportChainRow(SQLModel, table=True):
    """One report the chain owes or holds: pending from the cycle's commit until published.

    `sequence` is the report's place in the hash chain, assigned under the chain lock when
    it is published; a report that can never be published is `missing`, and is declared in
    the manifest of the next published report (`declared_in`).
    """

    __tablename__ = "report_chain"

    report_id: str = Field(primary_key=True, max_length=128)
    cycle_id: str | None = Field(default=None, max_length=128, index=True)
    state: str = Field(max_length=16)
    sequence: int | None = Field(default=None, unique=True)
    manifest_sha256: str | None = Field(default=None, max_length=64)
    generated_at: str | None = Field(default=None, max_length=64)
    reason: str | None = _text(nullable=True)
    declared_in: str | None = Field(default=None, max_length=128)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


def table(model: type[SQLModel]) -> sa.Table:
    """The Core table of a model: bulk statements go through Core, not the ORM."""
    found = SQLModel.metadata.tables[str(model.__tablename__)]
    return found


class EventRow(SQLModel, table=True):
    """One feed event a committed cycle used: its id makes handling idempotent."""

    __tablename__ = "events"

    event_id: str = Field(primary_key=True, max_length=256)
    detail_type: str = Field(max_length=128)
    event_name: str = Field(max_length=128)
    account: str = Field(max_length=32)
    region: str = Field(max_length=32)
    event_time: datetime | None = _ts(nullable=True)
    received_at: datetime = _ts(index=True)
    cycle_id: str | None = Field(default=None, max_length=128)
    attribution: dict[str, Any] | None = _json(nullable=True)


class EventResourceRow(SQLModel, table=True):
    """A resource an event named (and, for a shell, which kind and session)."""

    __tablename__ = "event_resources"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(
        sa_column=sa.Column(
            sa.String(256), sa.ForeignKey("events.event_id", ondelete="CASCADE"), nullable=False
        )
    )
    arn: str = Field(max_length=2048, index=True)
    access_kind: str | None = Field(default=None, max_length=32, index=True)
    session_id: str | None = Field(default=None, max_length=256)


class WorkUnitRow(SQLModel, table=True):
    """One (account, region, service) unit of a distributed cycle: its state of record.

    Workers claim, lease and finish units here (never in a Celery result backend); the
    leader waits on these rows, and a unit's result is written once, by the worker that
    holds it, while it holds it.
    """

    __tablename__ = "work_units"
    __table_args__ = (
        sa.Index("ix_work_units_enqueued_at", "enqueued_at"),
        sa.Index("ix_work_units_worker_state", "worker", "state"),
    )

    cycle_id: str = Field(primary_key=True, max_length=128)
    account: str = Field(primary_key=True, max_length=32)
    region: str = Field(primary_key=True, max_length=32)
    service: str = Field(primary_key=True, max_length=16)
    # waiting (for its ECS unit) | queued | running | done | failed | expired
    state: str = Field(max_length=16)
    deliveries: int = 0
    worker: str | None = Field(default=None, max_length=256)
    enqueued_at: datetime | None = _ts(nullable=True)
    started_at: datetime | None = _ts(nullable=True)
    deadline_at: datetime | None = _ts(nullable=True)
    lease_until: datetime | None = _ts(nullable=True)
    finished_at: datetime | None = _ts(nullable=True)
    duration_seconds: float | None = None
    retries: int = 0
    throttles: int = 0
    api_calls: dict[str, Any] | None = _json(nullable=True)
    error: str | None = _text(nullable=True)
    result: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary(), nullable=True))
    reported: bool = False  # the leader has taken the result (and dropped its bytes)


class ImageContentRow(SQLModel, table=True):
    """What is inside one ECR image (its redacted `imageContent`), by digest and scan scope.

    A digest is immutable, so a row holds forever; it is inserted once (insert-if-absent)
    and never updated. `scope` names what the scan covered (config only, or config and
    layers up to a byte cap) and the detector version: a result only answers a request of
    the same scope (docs/resources.md).
    """

    __tablename__ = "image_content"

    digest: str = Field(primary_key=True, max_length=128)
    scope: str = Field(primary_key=True, max_length=128)
    content: dict[str, Any] = _json()
    first_read_at: datetime = _ts()

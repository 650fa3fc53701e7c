"""Reading snapshots and resource history back into model values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from auditor.model import Snapshot
from auditor.store.codec import (
    gap_from_json,
    resource_from_document,
    scope_from_json,
)
from auditor.store.engine import is_in
from auditor.store.records import CycleSummary, ResourceVersion
from auditor.store.snapshots import (
    CONFIGS,
    CYCLES,
    VERSIONS,
    SnapshotNotFoundError,
    chunks,
    read_observations,
)


def latest_snapshot(conn: sa.Connection) -> Snapshot | None:
    row = conn.execute(sa.select(CYCLES).order_by(CYCLES.c.seq.desc()).limit(1)).mappings().first()
    return None if row is None else _snapshot(conn, row)


def load_snapshot(conn: sa.Connection, snapshot_id: str) -> Snapshot:
    row = conn.execute(sa.select(CYCLES).where(CYCLES.c.id == snapshot_id)).mappings().first()
    if row is None:
        raise SnapshotNotFoundError(f"no committed snapshot {snapshot_id!r}")
    return _snapshot(conn, row)


def _snapshot(conn: sa.Connection, cycle: sa.RowMapping) -> Snapshot:
    observations = read_observations(conn, cycle["seq"])
    documents = _documents(conn, sorted({o.version_id for o in observations}))
    resources = tuple(
        resource_from_document(documents[o.version_id], o.observed_at) for o in observations
    )
    return Snapshot(
        id=cycle["id"],
        started_at=cycle["started_at"],
        finished_at=cycle["finished_at"],
        scope=scope_from_json(cycle["scope"]),
        resources=resources,
        gaps=tuple(gap_from_json(g) for g in cycle["gaps"]),
        api_calls=dict(cycle["api_calls"]),
    )


def _documents(conn: sa.Connection, version_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for chunk in chunks(version_ids):
        rows = conn.execute(
            sa.select(VERSIONS.c.id, CONFIGS.c.document)
            .join(CONFIGS, CONFIGS.c.config_hash == VERSIONS.c.config_hash)
            .where(is_in(conn, VERSIONS.c.id, chunk))
        )
        out.update({int(i): doc for i, doc in rows})
    return out


def list_cycles(conn: sa.Connection, limit: int) -> list[CycleSummary]:
    rows = conn.execute(sa.select(CYCLES).order_by(CYCLES.c.seq.desc()).limit(limit)).mappings()
    return [
        CycleSummary(
            id=r["id"],
            started_at=r["started_at"],
            finished_at=r["finished_at"],
            resource_count=r["resource_count"],
            gap_count=len(r["gaps"]),
            api_calls=sum(int(v) for v in r["api_calls"].values()),
            evaluated_at=r["evaluated_at"],
            report_id=r["report_id"],
            metadata=dict(r["cycle_metadata"]),
        )
        for r in rows
    ]


_VERSION_COLUMNS = (
    VERSIONS.c.id,
    VERSIONS.c.last_seq,
    VERSIONS.c.arn,
    VERSIONS.c.config_hash,
    VERSIONS.c.first_snapshot_id,
    VERSIONS.c.last_snapshot_id,
    VERSIONS.c.first_seen,
    VERSIONS.c.last_seen,
    CONFIGS.c.document,
)


class _Current:
    """Where "current" versions (last_seq NULL) were last seen: the latest snapshot."""

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn
        self._loaded: tuple[str, dict[int, datetime]] | None = None

    def last(self, version_id: int) -> tuple[str, datetime]:
        if self._loaded is None:
            seq, cycle_id = self._conn.execute(
                sa.select(CYCLES.c.seq, CYCLES.c.id).order_by(CYCLES.c.seq.desc()).limit(1)
            ).one()
            seen = {o.version_id: o.observed_at for o in read_observations(self._conn, seq)}
            self._loaded = (str(cycle_id), seen)
        cycle_id, seen = self._loaded
        return cycle_id, seen[version_id]


def _version(row: sa.RowMapping, current: _Current) -> ResourceVersion:
    if row["last_seq"] is None:
        last_snapshot_id, last_seen = current.last(row["id"])
    else:
        last_snapshot_id, last_seen = row["last_snapshot_id"], row["last_seen"]
    return ResourceVersion(
        arn=row["arn"],
        config_hash=row["config_hash"],
        resource=resource_from_document(row["document"], row["first_seen"]),
        first_snapshot_id=row["first_snapshot_id"],
        last_snapshot_id=last_snapshot_id,
        first_seen=row["first_seen"],
        last_seen=last_seen,
    )


def resource_versions(conn: sa.Connection, arn: str) -> list[ResourceVersion]:
    rows = conn.execute(
        sa.select(*_VERSION_COLUMNS)
        .join(CONFIGS, CONFIGS.c.config_hash == VERSIONS.c.config_hash)
        .where(VERSIONS.c.arn == arn)
        .order_by(VERSIONS.c.id)
    ).mappings()
    current = _Current(conn)
    return [_version(r, current) for r in rows]


def baselines(conn: sa.Connection, arns: Iterable[str]) -> dict[str, ResourceVersion]:
    """First observed version per ARN. Version ids grow with the cycle that first saw them."""
    out: dict[str, ResourceVersion] = {}
    current = _Current(conn)
    for chunk in chunks(sorted(set(arns))):
        first = (
            sa.select(sa.func.min(VERSIONS.c.id).label("id"))
            .where(is_in(conn, VERSIONS.c.arn, chunk))
            .group_by(VERSIONS.c.arn)
            .subquery()
        )
        rows = conn.execute(
            sa.select(*_VERSION_COLUMNS)
            .join(CONFIGS, CONFIGS.c.config_hash == VERSIONS.c.config_hash)
            .join(first, first.c.id == VERSIONS.c.id)
        ).mappings()
        out.update({r["arn"]: _version(r, current) for r in rows})
    return out

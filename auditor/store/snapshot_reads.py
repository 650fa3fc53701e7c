"""Reading snapshots and resource history back into model values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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

# config hash -> its decoded document. Content-addressed, so an entry is never stale: the
# store keeps the latest snapshot's, and a baseline that is still the current version (most
# of them, in a warm cycle) is not fetched and decoded a second time.
Documents = dict[str, dict[str, Any]]


def latest_snapshot(conn: sa.Connection, documents: Documents | None = None) -> Snapshot | None:
    row = conn.execute(sa.select(CYCLES).order_by(CYCLES.c.seq.desc()).limit(1)).mappings().first()
    return None if row is None else _snapshot(conn, row, documents)


def load_snapshot(conn: sa.Connection, snapshot_id: str) -> Snapshot:
    row = conn.execute(sa.select(CYCLES).where(CYCLES.c.id == snapshot_id)).mappings().first()
    if row is None:
        raise SnapshotNotFoundError(f"no committed snapshot {snapshot_id!r}")
    return _snapshot(conn, row)


def _snapshot(
    conn: sa.Connection, cycle: sa.RowMapping, documents: Documents | None = None
) -> Snapshot:
    observations = read_observations(conn, cycle["seq"])
    hashes = _config_hashes(conn, sorted({o.version_id for o in observations}))
    found = _documents(conn, set(hashes.values()), documents)
    resources = tuple(
        resource_from_document(found[hashes[o.version_id]], o.observed_at) for o in observations
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


def _config_hashes(conn: sa.Connection, version_ids: Sequence[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for chunk in chunks(version_ids):
        rows = conn.execute(
            sa.select(VERSIONS.c.id, VERSIONS.c.config_hash).where(
                is_in(conn, VERSIONS.c.id, chunk)
            )
        )
        out.update({int(i): str(h) for i, h in rows})
    return out


def _documents(
    conn: sa.Connection, hashes: Iterable[str], cache: Documents | None = None
) -> Documents:
    """The documents of `hashes`, from `cache` where it has them (and added to it)."""
    cache = {} if cache is None else cache
    out = {h: cache[h] for h in hashes if h in cache}
    missing = sorted(h for h in hashes if h not in out)
    for chunk in chunks(missing):
        rows = conn.execute(
            sa.select(CONFIGS.c.config_hash, CONFIGS.c.document).where(
                is_in(conn, CONFIGS.c.config_hash, chunk)
            )
        )
        fetched = {str(h): doc for h, doc in rows}
        out.update(fetched)
        cache.update(fetched)
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


def _version(row: sa.RowMapping, document: Mapping[str, Any], current: _Current) -> ResourceVersion:
    if row["last_seq"] is None:
        last_snapshot_id, last_seen = current.last(row["id"])
    else:
        last_snapshot_id, last_seen = row["last_snapshot_id"], row["last_seen"]
    return ResourceVersion(
        arn=row["arn"],
        config_hash=row["config_hash"],
        resource=resource_from_document(document, row["first_seen"]),
        first_snapshot_id=row["first_snapshot_id"],
        last_snapshot_id=last_snapshot_id,
        first_seen=row["first_seen"],
        last_seen=last_seen,
    )


def resource_versions(conn: sa.Connection, arn: str) -> list[ResourceVersion]:
    rows = list(
        conn.execute(
            sa.select(*_VERSION_COLUMNS).where(VERSIONS.c.arn == arn).order_by(VERSIONS.c.id)
        ).mappings()
    )
    documents = _documents(conn, {r["config_hash"] for r in rows})
    current = _Current(conn)
    return [_version(r, documents[r["config_hash"]], current) for r in rows]


def baselines(
    conn: sa.Connection, arns: Iterable[str], documents: Documents | None = None
) -> dict[str, ResourceVersion]:
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
        rows = list(
            conn.execute(
                sa.select(*_VERSION_COLUMNS).join(first, first.c.id == VERSIONS.c.id)
            ).mappings()
        )
        found = _documents(conn, {r["config_hash"] for r in rows}, documents)
        out.update({r["arn"]: _version(r, found[r["config_hash"]], current) for r in rows})
    return out

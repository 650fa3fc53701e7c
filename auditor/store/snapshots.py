"""Writing snapshots: content-addressed configurations, compact observations.

A configuration is stored once per content hash (resource_configs). Each distinct
configuration of a resource is a resource_versions row that remembers the first cycle that
saw it and, once it is no longer seen, the last one (NULL while current). A cycle itself
adds one cycles row and one compressed observations row listing (version, observed_at) in
snapshot order: a cycle in which nothing changed adds ~0.015 bytes per resource and
updates no row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from auditor.model import Evaluation, Resource, Snapshot, canonical_json, sha256_hex
from auditor.store.codec import (
    OBSERVATIONS_ENCODING,
    Observation,
    decode_observations,
    encode_observations,
)
from auditor.store.engine import is_in
from auditor.store.tables import ConfigRow, CycleRow, ObservationRow, VersionRow, table

CYCLES = table(CycleRow)
OBSERVATIONS = table(ObservationRow)
CONFIGS = table(ConfigRow)
VERSIONS = table(VersionRow)
CHUNK = 500
_CYCLE_LOCK_ID = 0x61756469746F73  # serialises cycle commits on PostgreSQL

T = TypeVar("T")


class SnapshotNotFoundError(LookupError):
    """No committed cycle has this snapshot id."""


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True, slots=True)
class CycleKey:
    """A committed cycle's row key and its ordinal (1, 2, 3 ... without holes)."""

    seq: int
    ordinal: int


@dataclass(frozen=True, slots=True)
class _Seen:
    document: dict[str, Any]
    resource: Resource


def insert_cycle(
    conn: sa.Connection,
    snapshot: Snapshot,
    evaluation: Evaluation | None,
    report_id: str | None,
    metadata: Mapping[str, Any],
    seen_at: datetime | None = None,
) -> CycleKey:
    """Store one snapshot (and the cycle's summary fields); returns the cycle's key.

    Cycles are written one at a time (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory
    lock), because the "current versions" bookkeeping assumes a linear history.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _CYCLE_LOCK_ID})
    previous = conn.execute(
        sa.select(CYCLES.c.seq, CYCLES.c.id, CYCLES.c.ordinal)
        .order_by(CYCLES.c.seq.desc())
        .limit(1)
    ).first()
    ordinal = 1 if previous is None else int(previous.ordinal or 0) + 1
    if seen_at is None:
        seen_at = evaluation.evaluated_at if evaluation else snapshot.finished_at
    result = conn.execute(
        CYCLES.insert().values(
            id=snapshot.id,
            started_at=snapshot.started_at,
            finished_at=snapshot.finished_at,
            scope=snapshot.scope.to_json(),
            gaps=[gap.to_json() for gap in snapshot.gaps],
            api_calls=dict(snapshot.api_calls),
            resource_count=len(snapshot.resources),
            evaluated_at=evaluation.evaluated_at if evaluation else None,
            rule_stats=_stats_json(evaluation),
            report_id=report_id,
            cycle_metadata=dict(metadata),
            ordinal=ordinal,
            seen_at=seen_at,
        )
    )
    (seq,) = result.inserted_primary_key or (None,)
    if seq is None:  # pragma: no cover - both dialects return the key
        raise RuntimeError("the database did not return the new cycle's key")
    prior = None if previous is None else (int(previous.seq), str(previous.id))
    _insert_observations(conn, int(seq), snapshot, prior)
    return CycleKey(int(seq), ordinal)


def _stats_json(evaluation: Evaluation | None) -> list[dict[str, Any]] | None:
    if evaluation is None:
        return None
    return [
        {
            "rule_id": s.rule_id,
            "evaluated": s.evaluated,
            "failed": s.failed,
            "exempt": s.exempt,
            "unknown": s.unknown,
        }
        for s in evaluation.stats
    ]


def _insert_observations(
    conn: sa.Connection, seq: int, snapshot: Snapshot, previous: tuple[int, str] | None
) -> None:
    first: dict[str, _Seen] = {}
    hashes: list[str] = []
    for resource in snapshot.resources:
        document = resource.config_document()
        config_hash = sha256_hex(canonical_json(document))
        hashes.append(config_hash)
        if config_hash not in first:
            first[config_hash] = _Seen(document, resource)

    ids = _version_ids(conn, list(first))
    new = [h for h in first if h not in ids]
    _insert_configs(conn, new, first)
    seen_before = set(ids.values())
    if new:
        inserted = conn.execute(
            VERSIONS.insert().returning(VERSIONS.c.config_hash, VERSIONS.c.id),
            [
                {
                    "arn": first[h].resource.arn,
                    "config_hash": h,
                    "kind": first[h].resource.kind.value,
                    "account": first[h].resource.account,
                    "region": first[h].resource.region,
                    "first_seq": seq,
                    "first_snapshot_id": snapshot.id,
                    "first_seen": first[h].resource.observed_at,
                }
                for h in new
            ],
        )
        ids.update({str(h): int(i) for h, i in inserted})
    observations = [
        Observation(ids[h], r.observed_at) for h, r in zip(hashes, snapshot.resources, strict=True)
    ]
    _close_and_reopen(conn, {o.version_id for o in observations}, seen_before, previous)
    conn.execute(
        OBSERVATIONS.insert().values(
            cycle_seq=seq,
            encoding=OBSERVATIONS_ENCODING,
            data=encode_observations(observations),
        )
    )


def _version_ids(conn: sa.Connection, hashes: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in chunks(hashes):
        rows = conn.execute(
            sa.select(VERSIONS.c.config_hash, VERSIONS.c.id).where(
                is_in(conn, VERSIONS.c.config_hash, chunk)
            )
        )
        out.update({h: int(i) for h, i in rows})
    return out


def _insert_configs(conn: sa.Connection, hashes: Sequence[str], seen: Mapping[str, _Seen]) -> None:
    for chunk in chunks(hashes):
        present = set(
            conn.scalars(
                sa.select(CONFIGS.c.config_hash).where(is_in(conn, CONFIGS.c.config_hash, chunk))
            )
        )
        missing = [h for h in chunk if h not in present]
        if missing:
            conn.execute(
                CONFIGS.insert(),
                [{"config_hash": h, "document": seen[h].document} for h in missing],
            )


def _close_and_reopen(
    conn: sa.Connection, present: set[int], seen_before: set[int], previous: tuple[int, str] | None
) -> None:
    """Keep "last seen" without touching unchanged rows.

    A version whose last_seq is NULL is current: it is in the latest snapshot. A version
    that was current and is not seen now is closed at the previous cycle; one seen again
    after a gap is current again. A cycle in which nothing changed updates no row.
    """
    current = set(conn.scalars(sa.select(VERSIONS.c.id).where(VERSIONS.c.last_seq.is_(None))))
    closed = current - present
    if closed and previous is not None:
        prev_seq, prev_id = previous
        last_seen = {o.version_id: o.observed_at for o in read_observations(conn, prev_seq)}
        by_time: dict[datetime, list[int]] = defaultdict(list)
        for version_id in closed:
            by_time[last_seen[version_id]].append(version_id)
        for observed_at, version_ids in by_time.items():
            for chunk in chunks(sorted(version_ids)):
                conn.execute(
                    VERSIONS.update()
                    .where(is_in(conn, VERSIONS.c.id, chunk))
                    .values(last_seq=prev_seq, last_snapshot_id=prev_id, last_seen=observed_at)
                )
    reopened = sorted((present & seen_before) - current)
    for chunk in chunks(reopened):
        conn.execute(
            VERSIONS.update()
            .where(is_in(conn, VERSIONS.c.id, chunk))
            .values(last_seq=None, last_snapshot_id=None, last_seen=None)
        )


def read_observations(conn: sa.Connection, seq: int) -> list[Observation]:
    encoding, data = conn.execute(
        sa.select(OBSERVATIONS.c.encoding, OBSERVATIONS.c.data).where(
            OBSERVATIONS.c.cycle_seq == seq
        )
    ).one()
    return decode_observations(str(encoding), bytes(data))

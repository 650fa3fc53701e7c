"""Writing and reading snapshots: content-addressed configurations, compact observations.

A configuration is stored once per content hash (resource_configs). Each distinct
configuration of a resource is a resource_versions row that remembers the first and last
cycle that saw it. A cycle itself adds one cycles row and one compressed observations row
listing (version, observed_at) in snapshot order: a cycle in which nothing changed adds a
few bytes per thousand resources, plus an in-place update of each version's "last seen".
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
    encode_observations,
)
from auditor.store.tables import ConfigRow, CycleRow, ObservationRow, VersionRow, table

CYCLES = table(CycleRow)
OBSERVATIONS = table(ObservationRow)
CONFIGS = table(ConfigRow)
VERSIONS = table(VersionRow)
CHUNK = 500
_GROUP_MIN = 20

T = TypeVar("T")


class SnapshotNotFoundError(LookupError):
    """No committed cycle has this snapshot id."""


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
) -> int:
    """Store one snapshot (and the cycle's summary fields); returns the cycle's seq."""
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
        )
    )
    (seq,) = result.inserted_primary_key or (None,)
    if seq is None:  # pragma: no cover - both dialects return the key
        raise RuntimeError("the database did not return the new cycle's key")
    _insert_observations(conn, int(seq), snapshot)
    return int(seq)


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


def _insert_observations(conn: sa.Connection, seq: int, snapshot: Snapshot) -> None:
    by_hash: dict[str, _Seen] = {}
    hashes: list[str] = []
    for resource in snapshot.resources:
        document = resource.config_document()
        config_hash = sha256_hex(canonical_json(document))
        hashes.append(config_hash)
        seen = by_hash.get(config_hash)
        if seen is None or resource.observed_at > seen.resource.observed_at:
            by_hash[config_hash] = _Seen(document, resource)

    ids = _version_ids(conn, list(by_hash))
    known = {h: ids[h] for h in by_hash if h in ids}
    new = [h for h in by_hash if h not in ids]
    _insert_configs(conn, new, by_hash)
    if new:
        conn.execute(
            VERSIONS.insert(),
            [
                {
                    "arn": by_hash[h].resource.arn,
                    "config_hash": h,
                    "kind": by_hash[h].resource.kind.value,
                    "account": by_hash[h].resource.account,
                    "region": by_hash[h].resource.region,
                    "first_seq": seq,
                    "first_snapshot_id": snapshot.id,
                    "first_seen": by_hash[h].resource.observed_at,
                    "last_seq": seq,
                    "last_snapshot_id": snapshot.id,
                    "last_seen": by_hash[h].resource.observed_at,
                }
                for h in new
            ],
        )
    ids.update(_version_ids(conn, new))
    _touch_versions(conn, seq, snapshot.id, {known[h]: by_hash[h].resource for h in known})

    observations = [
        Observation(ids[h], r.observed_at) for h, r in zip(hashes, snapshot.resources, strict=True)
    ]
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
                VERSIONS.c.config_hash.in_(chunk)
            )
        )
        out.update({h: int(i) for h, i in rows})
    return out


def _insert_configs(conn: sa.Connection, hashes: Sequence[str], seen: Mapping[str, _Seen]) -> None:
    for chunk in chunks(hashes):
        present = set(
            conn.scalars(sa.select(CONFIGS.c.config_hash).where(CONFIGS.c.config_hash.in_(chunk)))
        )
        missing = [h for h in chunk if h not in present]
        if missing:
            conn.execute(
                CONFIGS.insert(),
                [{"config_hash": h, "document": seen[h].document} for h in missing],
            )


def _touch_versions(
    conn: sa.Connection, seq: int, snapshot_id: str, resources: Mapping[int, Resource]
) -> None:
    """Move each seen version's "last seen" to this cycle.

    Collectors stamp a whole (account, region, service) unit with one time, so grouping by
    time makes a few IN-list UPDATEs; scattered times fall back to one executemany.
    """
    by_time: dict[datetime, list[int]] = defaultdict(list)
    for version_id, resource in resources.items():
        by_time[resource.observed_at].append(version_id)
    singles: list[dict[str, Any]] = []
    values = {"last_seq": seq, "last_snapshot_id": snapshot_id}
    for observed_at, version_ids in by_time.items():
        if len(version_ids) < _GROUP_MIN:
            singles.extend({"vid": v, "seen": observed_at} for v in version_ids)
            continue
        for chunk in chunks(sorted(version_ids)):
            conn.execute(
                VERSIONS.update()
                .where(VERSIONS.c.id.in_(chunk))
                .values(last_seen=observed_at, **values)
            )
    if singles:
        conn.execute(
            VERSIONS.update()
            .where(VERSIONS.c.id == sa.bindparam("vid"))
            .values(last_seen=sa.bindparam("seen"), **values),
            singles,
        )

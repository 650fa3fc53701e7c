"""Model values <-> the JSON the store keeps, and the compact observation encoding.

Decoding rebuilds values equal to the ones encoded: a snapshot loaded from the store is the
snapshot that was saved, so any evaluation can be replayed from it.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.model import (
    JSON,
    CollectionGap,
    ExemptionRef,
    Finding,
    Kind,
    Resource,
    ResourceRef,
    Scope,
    Service,
    Severity,
    Status,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
OBSERVATIONS_ENCODING = "zlib-json-v1"


def resource_from_document(document: Mapping[str, Any], observed_at: datetime) -> Resource:
    return Resource(
        kind=Kind(document["kind"]),
        arn=document["arn"],
        id=document["id"],
        account=document["account"],
        region=document["region"],
        tags=dict(document["tags"]),
        attributes=dict(document["attributes"]),
        observed_at=observed_at,
        unavailable=tuple(document["unavailable"]),
    )


def gap_from_json(data: Mapping[str, Any]) -> CollectionGap:
    return CollectionGap(
        account=data["account"],
        region=data["region"],
        service=Service(data["service"]),
        kinds=tuple(Kind(k) for k in data["kinds"]),
        operation=data["operation"],
        error_code=data["error_code"],
        message=data["message"],
        resource_arn=data.get("resource_arn"),
    )


def scope_from_json(data: Mapping[str, Any]) -> Scope:
    return Scope(
        accounts=tuple(data["accounts"]),
        regions=tuple(data["regions"]),
        services=tuple(Service(s) for s in data["services"]),
    )


def _kind_or_text(value: str) -> Kind | str:
    try:
        return Kind(value)
    except ValueError:
        return value


def ref_from_json(data: Mapping[str, Any]) -> ResourceRef:
    return ResourceRef(
        arn=data["arn"],
        id=data["id"],
        kind=_kind_or_text(data["kind"]),
        account=data["account"],
        region=data["region"],
        tags=dict(data.get("tags") or {}),
    )


def exemption_from_json(data: Mapping[str, Any] | None) -> ExemptionRef | None:
    if data is None:
        return None
    return ExemptionRef(
        source=data["source"], reason=data["reason"], owner=data["owner"], expires=data["expires"]
    )


def finding_from_parts(
    *,
    rule_id: str,
    severity: str,
    status: str,
    resource: Mapping[str, Any],
    message: str,
    evidence: Mapping[str, JSON],
    exemption: Mapping[str, Any] | None,
) -> Finding:
    return Finding(
        rule_id=rule_id,
        severity=Severity(severity),
        status=Status(status),
        resource=ref_from_json(resource),
        message=message,
        evidence=dict(evidence),
        exemption=exemption_from_json(exemption),
    )


def to_micros(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: the store keeps tz-aware UTC only")
    return (dt - _EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


@dataclass(frozen=True, slots=True)
class Observation:
    """One resource in one snapshot: which stored version, observed when."""

    version_id: int
    observed_at: datetime


def encode_observations(observations: Sequence[Observation]) -> bytes:
    """Order-preserving and compact: ids as deltas, times run-length encoded, then zlib.

    A fleet collected in the same order every cycle yields deltas of 1 and a handful of
    distinct observation times, which compress to a few bytes per thousand resources.
    """
    deltas: list[int] = []
    runs: list[list[int]] = []
    previous_id = 0
    for obs in observations:
        deltas.append(obs.version_id - previous_id)
        previous_id = obs.version_id
        micros = to_micros(obs.observed_at)
        if runs and runs[-1][0] == micros:
            runs[-1][1] += 1
        else:
            runs.append([micros, 1])
    text = json.dumps({"ids": deltas, "times": runs}, separators=(",", ":"))
    return zlib.compress(text.encode(), 9)


def decode_observations(encoding: str, data: bytes) -> list[Observation]:
    if encoding != OBSERVATIONS_ENCODING:
        raise ValueError(f"unknown observation encoding {encoding!r}")
    doc = json.loads(zlib.decompress(data))
    times: list[datetime] = []
    for micros, count in doc["times"]:
        times.extend([from_micros(micros)] * count)
    out: list[Observation] = []
    version_id = 0
    for delta, observed_at in zip(doc["ids"], times, strict=True):
        version_id += delta
        out.append(Observation(version_id, observed_at))
    return out

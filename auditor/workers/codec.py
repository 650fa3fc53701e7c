"""What travels between leader and worker: a unit's message, and a unit's result.

A message names the unit and carries what it needs from the leader: the image references
ECR must resolve (from the cell's ECS result) and the immutable facts of the previous cycle
for its cell (user data, task definitions), so nothing is fetched twice. A result is the
unit's resources and gaps as canonical JSON, compressed: the store's row holds it once.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditor.aws import Target
from auditor.collect.base import CollectResult
from auditor.collect.units import Unit
from auditor.model import Resource, Service, parse_iso
from auditor.store.codec import gap_from_json, resource_from_document

MESSAGE_VERSION = 1


@dataclass(frozen=True, slots=True)
class UnitMessage:
    cycle_id: str
    unit: Unit
    image_refs: tuple[str, ...] = ()
    previous: tuple[Resource, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.unit.account, self.unit.region, self.unit.service.value)


def _resource_json(r: Resource) -> dict[str, Any]:
    return {**r.config_document(), "observed_at": r.observed_at.isoformat()}


def _resource(data: Mapping[str, Any]) -> Resource:
    return resource_from_document(data, parse_iso(str(data["observed_at"])))


def encode_message(message: UnitMessage) -> dict[str, Any]:
    unit = message.unit
    return {
        "v": MESSAGE_VERSION,
        "cycle_id": message.cycle_id,
        "account": unit.account,
        "role_arn": unit.target.role_arn,
        "region": unit.region,
        "service": unit.service.value,
        "image_refs": list(message.image_refs),
        "previous": [_resource_json(r) for r in message.previous],
    }


def decode_message(data: Mapping[str, Any]) -> UnitMessage:
    if data.get("v") != MESSAGE_VERSION:
        raise ValueError(f"unit message version {data.get('v')!r}, expected {MESSAGE_VERSION}")
    unit = Unit(
        Target(str(data["account"]), data.get("role_arn")),
        str(data["region"]),
        Service(data["service"]),
    )
    return UnitMessage(
        cycle_id=str(data["cycle_id"]),
        unit=unit,
        image_refs=tuple(str(r) for r in data.get("image_refs") or ()),
        previous=tuple(_resource(r) for r in data.get("previous") or ()),
    )


def encode_result(result: CollectResult) -> bytes:
    doc = {
        "resources": [_resource_json(r) for r in result.resources],
        "gaps": [g.to_json() for g in result.gaps],
    }
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 6)


def decode_result(data: bytes) -> CollectResult:
    doc = json.loads(zlib.decompress(data))
    return CollectResult(
        resources=tuple(_resource(r) for r in doc["resources"]),
        gaps=tuple(gap_from_json(g) for g in doc["gaps"]),
    )

"""ECS task definition revisions in use: fetched once per ARN, ever.

A task definition revision is immutable, so a revision already in the previous snapshot is
reused (re-stamped with this cycle's observation time) instead of being described again.
Environment variable values are redacted here, before they leave the AWS response.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from auditor.aws import error_code
from auditor.collect.base import (
    AWS_ERRORS,
    DENIED_CODES,
    CollectResult,
    UnitContext,
    each_concurrently,
    gap,
    pick,
    tag_map,
)
from auditor.model import JSON, CollectionGap, Kind, Resource, Service
from auditor.secrets import redacted_value

_TASK_DEFINITION_KEYS = (
    "taskDefinitionArn",
    "family",
    "revision",
    "networkMode",
    "pidMode",
    "registeredAt",
    "requiresCompatibilities",
)
_OPERATION = "ecs:DescribeTaskDefinition"
_CONTAINER_KEYS = ("name", "image", "essential", "privileged", "readonlyRootFilesystem", "user")


def _container(definition: Mapping[str, Any]) -> dict[str, JSON]:
    name = str(definition.get("name", ""))
    out = pick(definition, _CONTAINER_KEYS)
    out["environment"] = [
        {
            "name": str(env.get("name", "")),
            "value": redacted_value(
                str(env.get("name", "")),
                str(env.get("value", "")),
                f"container {name} env {env.get('name', '')}",
            ),
        }
        for env in definition.get("environment") or []
    ]
    out["secrets"] = [
        {"name": str(s.get("name", "")), "valueFrom": str(s.get("valueFrom", ""))}
        for s in definition.get("secrets") or []
    ]
    return out


def task_definition_resource(
    ctx: UnitContext, task_definition: Mapping[str, Any], tags: Any, observed_at: datetime
) -> Resource:
    """The ecs.task_definition Resource of one DescribeTaskDefinition response."""
    attributes = pick(task_definition, _TASK_DEFINITION_KEYS)
    attributes["containerDefinitions"] = [
        _container(c) for c in task_definition.get("containerDefinitions") or []
    ]
    return Resource(
        kind=Kind.ECS_TASK_DEFINITION,
        arn=str(task_definition["taskDefinitionArn"]),
        id=f"{task_definition['family']}:{task_definition['revision']}",
        account=ctx.account,
        region=ctx.region,
        tags=tag_map(tags, "key", "value"),
        attributes=attributes,
        observed_at=observed_at,
    )


def collect_task_definitions(
    ctx: UnitContext, client: Any, arns: Iterable[str], observed_at: datetime
) -> CollectResult:
    """Resources for the given revision ARNs: reused from the previous state, or described
    (several at once; after an AccessDenied no other is asked for)."""
    wanted = sorted(set(arns))
    unknown = [arn for arn in wanted if arn not in ctx.previous.task_definitions]
    denied = threading.Event()

    def describe(arn: str) -> Mapping[str, Any] | Exception | None:
        if denied.is_set():
            return None  # covered by the denial's gap
        try:
            response: Mapping[str, Any] = client.describe_task_definition(
                taskDefinition=arn, include=["TAGS"]
            )
        except AWS_ERRORS as exc:
            if error_code(exc) in DENIED_CODES:
                denied.set()
            return exc
        return response

    described = dict(zip(unknown, each_concurrently(describe, unknown), strict=True))
    resources: list[Resource] = []
    gaps: list[CollectionGap] = []
    for arn in wanted:
        known = ctx.previous.task_definitions.get(arn)
        outcome = described.get(arn)
        if known is not None:
            resources.append(dataclasses.replace(known, observed_at=observed_at))
        elif isinstance(outcome, Exception):
            if not gaps or _first_denial(outcome, gaps):
                gaps.append(gap(ctx, Service.ECS, (Kind.ECS_TASK_DEFINITION,), _OPERATION, outcome))
        elif outcome is not None:
            resources.append(
                task_definition_resource(
                    ctx, outcome["taskDefinition"], outcome.get("tags"), observed_at
                )
            )
    return CollectResult(tuple(resources), tuple(gaps))


def _first_denial(exc: Exception, gaps: list[CollectionGap]) -> bool:
    return error_code(exc) in DENIED_CODES and all(g.error_code not in DENIED_CODES for g in gaps)

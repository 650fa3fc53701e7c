"""ECS collector: clusters, services, running tasks and the task definitions they use.

Calls per (account, region): ListClusters pages, DescribeClusters per 100 clusters, per
cluster ListServices pages + DescribeServices per 10 services and ListTasks pages +
DescribeTasks per 100 tasks, and one DescribeTaskDefinition per revision in use that the
previous snapshot does not already hold. Each sub-collection fails on its own: a denied
call becomes a CollectionGap for the kinds it feeds, the rest is still collected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from auditor.collect.base import (
    CollectorSpec,
    CollectResult,
    UnitContext,
    UnitState,
    chunks,
    paginate,
    pick,
)
from auditor.collect.completeness import completeness_gaps
from auditor.collect.ecs_task_definitions import collect_task_definitions
from auditor.model import JSON, Kind, Resource, Service

PAGE_SIZE = 100  # ListClusters / ListServices / ListTasks maxResults (the API maximum)
DESCRIBE_CLUSTERS_BATCH = 100
DESCRIBE_SERVICES_BATCH = 10
DESCRIBE_TASKS_BATCH = 100

_CLUSTER_KEYS = ("clusterArn", "clusterName", "status", "capacityProviders")
_SERVICE_KEYS = (
    "serviceArn",
    "serviceName",
    "clusterArn",
    "taskDefinition",
    "desiredCount",
    "runningCount",
    "launchType",
    "platformVersion",
    "enableExecuteCommand",
    "createdAt",
)
_DEPLOYMENT_KEYS = (
    "id",
    "status",
    "taskDefinition",
    "createdAt",
    "updatedAt",
    "rolloutState",
    "runningCount",
    "desiredCount",
)
_TASK_KEYS = (
    "taskArn",
    "clusterArn",
    "taskDefinitionArn",
    "group",
    "startedAt",
    "createdAt",
    "lastStatus",
    "launchType",
    "containerInstanceArn",
)
_TASK_CONTAINER_KEYS = ("name", "image", "imageDigest", "lastStatus")

_ALL_KINDS = (Kind.ECS_CLUSTER, Kind.ECS_SERVICE, Kind.ECS_TASK_DEFINITION, Kind.ECS_TASK)
_SERVICE_KINDS = (Kind.ECS_SERVICE, Kind.ECS_TASK_DEFINITION)
_TASK_KINDS = (Kind.ECS_TASK, Kind.ECS_TASK_DEFINITION)
_NOT_FOUND = frozenset({"ClusterNotFoundException"})


def _cluster_name(cluster_arn: str) -> str:
    return cluster_arn.rsplit("/", 1)[-1]


def _service_attributes(service: Mapping[str, Any]) -> dict[str, JSON]:
    out = pick(service, _SERVICE_KEYS)
    config = service.get("deploymentConfiguration")
    if config is not None:
        breaker = config.get("deploymentCircuitBreaker")
        out["deploymentConfiguration"] = (
            {"deploymentCircuitBreaker": pick(breaker, ("enable", "rollback"))}
            if breaker is not None
            else {}
        )
    out["deployments"] = [pick(d, _DEPLOYMENT_KEYS) for d in service.get("deployments") or []]
    return out


def _task_attributes(task: Mapping[str, Any]) -> dict[str, JSON]:
    out = pick(task, _TASK_KEYS)
    out["containers"] = [pick(c, _TASK_CONTAINER_KEYS) for c in task.get("containers") or []]
    group = str(task.get("group") or "")
    if group.startswith("service:"):
        out["ServiceName"] = group.removeprefix("service:")
    return out


def _collect_clusters(unit: UnitState) -> list[str]:
    client = unit.client
    arns = unit.call(
        "ecs:ListClusters",
        _ALL_KINDS,
        lambda: list(
            paginate(
                client, "list_clusters", "clusterArns", PaginationConfig={"PageSize": PAGE_SIZE}
            )
        ),
    )
    if arns is None:
        return []
    for batch in chunks(arns, DESCRIBE_CLUSTERS_BATCH):
        response = unit.call(
            "ecs:DescribeClusters",
            (Kind.ECS_CLUSTER,),
            partial(client.describe_clusters, clusters=batch, include=["TAGS"]),
        )
        for cluster in (response or {}).get("clusters", []):
            unit.add(
                Kind.ECS_CLUSTER,
                str(cluster["clusterArn"]),
                str(cluster["clusterName"]),
                cluster.get("tags"),
                {
                    **pick(cluster, _CLUSTER_KEYS),
                    "capacityProviders": cluster.get("capacityProviders") or [],
                },
            )
    return arns


def _collect_services(unit: UnitState, cluster_arn: str) -> set[str]:
    """Services of one cluster; returns the task definition ARNs they use."""
    client = unit.client
    arns = unit.call(
        "ecs:ListServices",
        _SERVICE_KINDS,
        lambda: list(
            paginate(
                client,
                "list_services",
                "serviceArns",
                cluster=cluster_arn,
                PaginationConfig={"PageSize": PAGE_SIZE},
            )
        ),
    )
    return describe_services(unit, cluster_arn, arns or [])


def describe_services(unit: UnitState, cluster_arn: str, arns: list[str]) -> set[str]:
    """The named services of one cluster (active ones; a deleted service is INACTIVE);
    returns the task definition ARNs they use."""
    client = unit.client
    used: set[str] = set()
    for batch in chunks(arns, DESCRIBE_SERVICES_BATCH):
        response = unit.call(
            "ecs:DescribeServices",
            _SERVICE_KINDS,
            partial(
                client.describe_services, cluster=cluster_arn, services=batch, include=["TAGS"]
            ),
        )
        for service in (response or {}).get("services", []):
            if service.get("status") == "INACTIVE":
                continue
            attributes = _service_attributes(service)
            if service.get("taskDefinition"):
                used.add(str(service["taskDefinition"]))
            unit.add(
                Kind.ECS_SERVICE,
                str(service["serviceArn"]),
                f"{_cluster_name(cluster_arn)}/{service['serviceName']}",
                service.get("tags"),
                attributes,
            )
    return used


def _collect_tasks(unit: UnitState, cluster_arn: str) -> set[str]:
    """Running tasks of one cluster; returns the task definition ARNs they use."""
    client = unit.client
    arns = unit.call(
        "ecs:ListTasks",
        _TASK_KINDS,
        lambda: list(
            paginate(
                client,
                "list_tasks",
                "taskArns",
                cluster=cluster_arn,
                desiredStatus="RUNNING",
                PaginationConfig={"PageSize": PAGE_SIZE},
            )
        ),
    )
    return describe_tasks(unit, cluster_arn, arns or [])


def describe_tasks(unit: UnitState, cluster_arn: str, arns: list[str]) -> set[str]:
    """The named tasks of one cluster that still run; returns their task definition ARNs."""
    client = unit.client
    used: set[str] = set()
    for batch in chunks(arns, DESCRIBE_TASKS_BATCH):
        response = unit.call(
            "ecs:DescribeTasks",
            _TASK_KINDS,
            partial(client.describe_tasks, cluster=cluster_arn, tasks=batch, include=["TAGS"]),
        )
        for task in (response or {}).get("tasks", []):
            if task.get("lastStatus") == "STOPPED":
                continue
            if task.get("taskDefinitionArn"):
                used.add(str(task["taskDefinitionArn"]))
            task_arn = str(task["taskArn"])
            unit.add(
                Kind.ECS_TASK,
                task_arn,
                f"{_cluster_name(cluster_arn)}/{task_arn.rsplit('/', 1)[-1]}",
                task.get("tags"),
                _task_attributes(task),
            )
    return used


def collect_ecs(ctx: UnitContext) -> CollectResult:
    """Every ECS resource kind of one (account, region)."""
    unit = UnitState(ctx, Service.ECS, not_found=_NOT_FOUND, tag_keys=("key", "value"))
    used: set[str] = set()
    for cluster_arn in _collect_clusters(unit):
        used |= _collect_services(unit, cluster_arn)
        used |= _collect_tasks(unit, cluster_arn)
    definitions = collect_task_definitions(ctx, unit.client, used, unit.now)
    result = unit.result() + definitions
    return result + CollectResult(
        gaps=completeness_gaps(result.resources, result.gaps, Service.ECS)
    )


def _digest_ref(image: str, digest: str) -> str:
    """`repo[:tag][@digest]` pinned to the digest a task actually runs."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    return f"{name}@{digest}"


def image_refs(resources: Iterable[Resource]) -> tuple[str, ...]:
    """Every image reference of collected running tasks and task definitions in use.

    A running container's `imageDigest` is added as `repo@digest` too: a tag may have moved
    since the task started, and the digest is what actually runs.
    """
    refs: set[str] = set()
    for r in resources:
        if r.kind is Kind.ECS_TASK:
            for c in r.attributes.get("containers") or []:
                if c.get("image"):
                    refs.add(str(c["image"]))
                    if c.get("imageDigest"):
                        refs.add(_digest_ref(str(c["image"]), str(c["imageDigest"])))
        elif r.kind is Kind.ECS_TASK_DEFINITION:
            for c in r.attributes.get("containerDefinitions") or []:
                if c.get("image"):
                    refs.add(str(c["image"]))
    return tuple(sorted(refs))


SPEC = CollectorSpec(
    collect_ecs,
    kinds=(Kind.ECS_CLUSTER, Kind.ECS_SERVICE, Kind.ECS_TASK_DEFINITION, Kind.ECS_TASK),
    iam_actions=frozenset(
        {
            "ecs:DescribeClusters",
            "ecs:DescribeServices",
            "ecs:DescribeTaskDefinition",
            "ecs:DescribeTasks",
            "ecs:ListClusters",
            "ecs:ListServices",
            "ecs:ListTagsForResource",  # implied by describe_* with include=["TAGS"]
            "ecs:ListTasks",
        }
    ),
)

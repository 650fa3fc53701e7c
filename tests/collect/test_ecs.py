"""ECS collector against moto: every kind, batching, redaction, warm cache, partial failure."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import botocore.exceptions
import pytest

from auditor.aws import ApiCallCounter
from auditor.collect import ecs
from auditor.collect.base import READS_IN_FLIGHT, PreviousState, UnitContext
from auditor.collect.ecs_task_definitions import collect_task_definitions
from auditor.model import Kind, Resource, canonical_json
from tests.collect.conftest import ACCOUNT, REGION

SECRET = "hunter2-Sup3rS3cret-pa55word"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web:1.4.2"
SIDECAR = "public.ecr.aws/nginx/nginx:latest"


def _client() -> Any:
    return boto3.client("ecs", region_name=REGION)


def _register_web(client: Any, family: str = "web") -> str:
    response = client.register_task_definition(
        family=family,
        networkMode="host",
        pidMode="host",
        requiresCompatibilities=["EC2"],
        containerDefinitions=[
            {
                "name": "web",
                "image": IMAGE,
                "essential": True,
                "privileged": True,
                "readonlyRootFilesystem": False,
                "user": "root",
                "memory": 256,
                "environment": [
                    {"name": "DB_PASSWORD", "value": SECRET},
                    {"name": "AWS_ACCESS_KEY_ID", "value": AWS_KEY},
                    {"name": "LOG_LEVEL", "value": "info"},
                ],
                "secrets": [
                    {"name": "API_TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:123:parameter/t"}
                ],
            },
            {"name": "sidecar", "image": SIDECAR, "memory": 64},
        ],
        tags=[{"key": "team", "value": "web"}],
    )
    return str(response["taskDefinition"]["taskDefinitionArn"])


def _seed(services: int = 1) -> dict[str, str]:
    client = _client()
    client.create_cluster(clusterName="prod", tags=[{"key": "env", "value": "prod"}])
    client.create_cluster(clusterName="empty")
    task_def = _register_web(client)
    unused = _register_web(client, family="unused")
    for i in range(services):
        client.create_service(
            cluster="prod",
            serviceName=f"svc-{i:02d}",
            taskDefinition=task_def,
            desiredCount=1,
            launchType="EC2",
            tags=[{"key": "owner", "value": f"team-{i}"}],
        )
    task = client.run_task(
        cluster="prod",
        taskDefinition=task_def,
        count=1,
        launchType="FARGATE",  # moto places EC2 tasks only on a registered container instance
        group="service:svc-00",
        tags=[{"key": "run", "value": "1"}],
    )["tasks"][0]
    return {"task_def": task_def, "unused": unused, "task": str(task["taskArn"])}


def _by_kind(resources: tuple[Resource, ...], kind: Kind) -> list[Resource]:
    return sorted((r for r in resources if r.kind is kind), key=lambda r: r.id)


def test_collects_every_kind_with_documented_attributes(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """Clusters, services, the task definition in use and running tasks come back as
    documented in docs/resources.md; an unused revision is not fetched."""
    seeded = _seed()
    result = ecs.collect_ecs(make_ctx())

    assert result.gaps == ()
    clusters = _by_kind(result.resources, Kind.ECS_CLUSTER)
    assert [c.id for c in clusters] == ["empty", "prod"]
    prod = clusters[1]
    assert dict(prod.tags) == {"env": "prod"}
    assert {"clusterArn", "clusterName", "status", "capacityProviders"} == set(prod.attributes)
    assert prod.attributes["status"] == "ACTIVE"

    (service,) = _by_kind(result.resources, Kind.ECS_SERVICE)
    assert service.id == "prod/svc-00"
    assert dict(service.tags) == {"owner": "team-0"}
    assert seeded["task_def"] == service.attributes["taskDefinition"]
    assert service.attributes["launchType"] == "EC2"
    assert {
        "serviceArn",
        "serviceName",
        "clusterArn",
        "taskDefinition",
        "desiredCount",
        "runningCount",
        "launchType",
        "deployments",
    } <= set(service.attributes)  # moto omits createdAt and enableExecuteCommand
    deployment = service.attributes["deployments"][0]
    assert seeded["task_def"] == deployment["taskDefinition"]
    assert str(deployment["createdAt"]).endswith("+00:00")
    assert set(deployment) <= {
        "id",
        "status",
        "taskDefinition",
        "createdAt",
        "updatedAt",
        "rolloutState",
        "runningCount",
        "desiredCount",
    }

    (task_def,) = _by_kind(result.resources, Kind.ECS_TASK_DEFINITION)
    assert task_def.id == "web:1"
    assert seeded["task_def"] == task_def.arn
    assert dict(task_def.tags) == {"team": "web"}
    assert task_def.attributes["networkMode"] == "host"
    assert task_def.attributes["pidMode"] == "host"
    assert task_def.attributes["requiresCompatibilities"] == ["EC2"]
    web, sidecar = task_def.attributes["containerDefinitions"]
    assert {k: v for k, v in web.items() if k not in ("environment", "secrets")} == {
        "name": "web",
        "image": IMAGE,
        "essential": True,
        "privileged": True,
        "readonlyRootFilesystem": False,
        "user": "root",
    }
    assert web["secrets"] == [
        {"name": "API_TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:123:parameter/t"}
    ]
    assert [e["name"] for e in web["environment"]] == [
        "DB_PASSWORD",
        "AWS_ACCESS_KEY_ID",
        "LOG_LEVEL",
    ]
    assert sidecar["environment"] == []
    assert sidecar["secrets"] == []

    (task,) = _by_kind(result.resources, Kind.ECS_TASK)
    assert seeded["task"] == task.arn
    assert f"prod/{seeded['task'].rsplit('/', 1)[-1]}" == task.id
    assert task.attributes["ServiceName"] == "svc-00"
    assert task.attributes["group"] == "service:svc-00"
    assert seeded["task_def"] == task.attributes["taskDefinitionArn"]
    assert dict(task.tags) == {"run": "1"}
    assert [c["image"] for c in task.attributes["containers"]] == [IMAGE]  # moto: first only
    for container in task.attributes["containers"]:
        assert set(container) <= {"name", "image", "imageDigest", "lastStatus"}
    for r in result.resources:
        assert (r.account, r.region) == (ACCOUNT, REGION)


def test_environment_secrets_are_redacted_but_recorded(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """Secret values in a task definition's environment never reach a Resource, while the
    detection (location, detector, hash) is kept for the rule engine."""
    _seed()
    result = ecs.collect_ecs(make_ctx())

    text = repr(result) + canonical_json([r.config_document() for r in result.resources])
    assert SECRET not in text
    assert AWS_KEY not in text
    (task_def,) = _by_kind(result.resources, Kind.ECS_TASK_DEFINITION)
    env = {
        e["name"]: e["value"] for e in task_def.attributes["containerDefinitions"][0]["environment"]
    }
    assert [h["location"] for h in env["DB_PASSWORD"]["secrets"]] == [
        "container web env DB_PASSWORD"
    ]
    assert [h["location"] for h in env["AWS_ACCESS_KEY_ID"]["secrets"]][:1] == [
        "container web env AWS_ACCESS_KEY_ID"
    ]
    assert env["LOG_LEVEL"]["secrets"] == []
    assert (True, len(SECRET)) == (env["DB_PASSWORD"]["present"], env["DB_PASSWORD"]["size"])


def test_describe_calls_are_batched(
    make_ctx: Callable[..., UnitContext], counter: ApiCallCounter
) -> None:
    """25 services cost 3 DescribeServices calls; the shared revision is described once."""
    _seed(services=25)
    before = dict(counter.calls)
    result = ecs.collect_ecs(make_ctx())
    calls = {k: v - before.get(k, 0) for k, v in counter.calls.items()}

    assert len(_by_kind(result.resources, Kind.ECS_SERVICE)) == 25
    assert {k: v for k, v in calls.items() if k.startswith("ecs:") and v} == {
        "ecs:ListClusters": 1,
        "ecs:DescribeClusters": 1,
        "ecs:ListServices": 2,
        "ecs:DescribeServices": 3,
        "ecs:ListTasks": 2,
        "ecs:DescribeTasks": 1,
        "ecs:DescribeTaskDefinition": 1,
    }


def test_warm_collection_reuses_task_definitions(
    make_ctx: Callable[..., UnitContext], counter: ApiCallCounter, clock: Any
) -> None:
    """A revision already in the previous snapshot is not described again, and comes back
    identical but stamped with this cycle's observation time."""
    _seed(services=3)
    cold = ecs.collect_ecs(make_ctx())
    (cold_def,) = _by_kind(cold.resources, Kind.ECS_TASK_DEFINITION)
    stale = Resource(
        kind=cold_def.kind,
        arn=cold_def.arn,
        id=cold_def.id,
        account=cold_def.account,
        region=cold_def.region,
        tags=cold_def.tags,
        attributes=cold_def.attributes,
        observed_at=clock.now().replace(year=2020),
    )
    before = counter.calls.get("ecs:DescribeTaskDefinition", 0)

    warm = ecs.collect_ecs(make_ctx(previous=PreviousState(task_definitions={stale.arn: stale})))

    assert before == counter.calls.get("ecs:DescribeTaskDefinition", 0)
    (warm_def,) = _by_kind(warm.resources, Kind.ECS_TASK_DEFINITION)
    assert cold_def == warm_def
    assert clock.now() == warm_def.observed_at


def _deny(client: Any, operation: str) -> list[str]:
    """Make `operation` fail with AccessDenied; returns the list of attempts made."""
    attempts: list[str] = []

    def refuse(**_: Any) -> None:
        attempts.append(operation)
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, operation
        )

    client.meta.events.register(f"before-call.ecs.{operation}", refuse)
    return attempts


def test_denied_list_tasks_is_a_gap_while_the_rest_is_collected(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """ListTasks denied: clusters, services and their task definition are still collected;
    one gap covers tasks (and task definitions, whose set is now incomplete), and the
    refused operation is not asked again for the next cluster."""
    _seed(services=2)
    ctx = make_ctx()
    attempts = _deny(ctx.client("ecs"), "ListTasks")

    result = ecs.collect_ecs(ctx)

    assert len(_by_kind(result.resources, Kind.ECS_CLUSTER)) == 2
    assert len(_by_kind(result.resources, Kind.ECS_SERVICE)) == 2
    assert len(_by_kind(result.resources, Kind.ECS_TASK_DEFINITION)) == 1
    assert _by_kind(result.resources, Kind.ECS_TASK) == []
    (gap,) = result.gaps
    assert (
        gap.operation,
        gap.error_code,
        gap.message,
    ) == ("ecs:ListTasks", "AccessDeniedException", "not allowed")
    assert gap.kinds == (Kind.ECS_TASK, Kind.ECS_TASK_DEFINITION)
    assert (gap.account, gap.region, gap.resource_arn) == (ACCOUNT, REGION, None)
    assert attempts == ["ListTasks"]


def test_denied_list_clusters_is_a_gap_for_every_kind(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """Without the cluster list nothing can be seen: the gap covers all four ECS kinds."""
    _seed()
    ctx = make_ctx()
    _deny(ctx.client("ecs"), "ListClusters")

    result = ecs.collect_ecs(ctx)

    assert result.resources == ()
    assert [(g.operation, g.kinds) for g in result.gaps] == [
        (
            "ecs:ListClusters",
            (Kind.ECS_CLUSTER, Kind.ECS_SERVICE, Kind.ECS_TASK_DEFINITION, Kind.ECS_TASK),
        )
    ]


def test_denied_describe_task_definition_is_a_gap(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """A revision that cannot be read fails closed: a gap over ecs.task_definition."""
    _seed()
    ctx = make_ctx()
    _deny(ctx.client("ecs"), "DescribeTaskDefinition")

    result = ecs.collect_ecs(ctx)

    assert len(_by_kind(result.resources, Kind.ECS_TASK)) == 1
    assert [(g.operation, g.kinds) for g in result.gaps] == [
        ("ecs:DescribeTaskDefinition", (Kind.ECS_TASK_DEFINITION,))
    ]


def _register_families(count: int) -> list[str]:
    client = _client()
    return [_register_web(client, family=f"fam-{i:02d}") for i in range(count)]


def test_task_definitions_are_described_concurrently(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """Revisions are described several at a time: two reads meet at a barrier, which a
    one-at-a-time loop would never reach (the barrier breaks after 30 s and the test fails)."""
    arns = _register_families(6)
    ctx = make_ctx()
    client = ctx.client("ecs")
    meet = threading.Barrier(2, timeout=30)

    def wait_for_another(**_: Any) -> None:
        meet.wait()  # returns None: the call then goes on to moto

    client.meta.events.register("before-call.ecs.DescribeTaskDefinition", wait_for_another)

    result = collect_task_definitions(ctx, client, arns, ctx.clock.now())

    assert sorted(r.arn for r in result.resources) == sorted(arns)
    assert result.gaps == ()


def test_denied_task_definitions_stop_asking(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """After an AccessDenied no further revision is asked for: at most the reads already in
    flight are made, and one gap covers them all."""
    arns = _register_families(30)
    ctx = make_ctx()
    client = ctx.client("ecs")
    attempts = _deny(client, "DescribeTaskDefinition")

    result = collect_task_definitions(ctx, client, arns, ctx.clock.now())

    assert result.resources == ()
    assert 1 <= len(attempts) <= READS_IN_FLIGHT < len(arns)
    assert [(g.operation, g.error_code) for g in result.gaps] == [
        ("ecs:DescribeTaskDefinition", "AccessDeniedException")
    ]


def test_image_refs_cover_tasks_and_task_definitions(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """The images ECR must resolve: every container image of running tasks and of task
    definitions in use, plus a running container's digest pinned to its repository."""
    _seed()
    result = ecs.collect_ecs(make_ctx())
    assert tuple(sorted(ecs.image_refs(result.resources))) == (IMAGE, SIDECAR)

    digest = "sha256:" + "a" * 64
    task = Resource(
        kind=Kind.ECS_TASK,
        arn="arn:aws:ecs:us-east-1:123456789012:task/prod/abc",
        id="prod/abc",
        account=ACCOUNT,
        region=REGION,
        tags={},
        attributes={"containers": [{"name": "web", "image": IMAGE, "imageDigest": digest}]},
        observed_at=_by_kind(result.resources, Kind.ECS_TASK)[0].observed_at,
    )
    repo = IMAGE.rsplit(":", 1)[0]
    assert (IMAGE, f"{repo}@{digest}") == ecs.image_refs([task])


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("host:5000/team/app:1.0", "host:5000/team/app@sha256:x"),
        ("host:5000/team/app", "host:5000/team/app@sha256:x"),
        ("app@sha256:old", "app@sha256:x"),
    ],
)
def test_digest_ref_strips_tag_not_port(image: str, expected: str) -> None:
    """Pinning to a digest removes the tag but keeps a registry port."""
    assert expected == ecs._digest_ref(image, "sha256:x")


def test_list_calls_ask_for_the_largest_page_and_running_tasks_only(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """Every list call asks for 100 items a page (fewest calls); tasks are RUNNING only."""
    _seed()
    ctx = make_ctx()
    sent: dict[str, dict[str, Any]] = {}

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name.startswith("List"):
            sent[model.name] = {
                k: v for k, v in params.items() if k not in ("cluster", "nextToken")
            }

    ctx.client("ecs").meta.events.register("provide-client-params.ecs", record)
    ecs.collect_ecs(ctx)

    assert sent == {
        "ListClusters": {"maxResults": 100},
        "ListServices": {"maxResults": 100},
        "ListTasks": {"maxResults": 100, "desiredStatus": "RUNNING"},
    }

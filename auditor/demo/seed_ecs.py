"""ECR and ECS of one demo cell: repositories and pushed images, task definitions from
well-pinned and locked-down to the opposite, services and their running tasks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from auditor.demo import aging
from auditor.demo.cell import TERRAFORM_TAGS, Cell
from auditor.demo.manifest import ECR_IMAGE_MAX_AGE_DAYS, TASK_MAX_AGE_DAYS
from auditor.demo.registry import BuiltImage, build_image, demo_blobs, push

CLUSTER = "apps"

# (repository, imageTagMutability, tag pushed, days since push)
REPOSITORIES: tuple[tuple[str, str, str, int], ...] = (
    ("api", "IMMUTABLE", "2026.11.1", 10),
    ("web", "IMMUTABLE_WITH_EXCLUSION", "2026.11.3", 6),
    ("worker", "MUTABLE", "1.4.2", 300),
    ("admin", "MUTABLE", "latest", 200),
    ("cron", "MUTABLE_WITH_EXCLUSION", "latest", 45),
)


@dataclass(frozen=True, slots=True)
class Workload:
    """A task definition family, the service running it (if any) and its tasks."""

    family: str
    repository: str
    image_ref: str  # "digest", "tag" or "none": how the image is referenced
    container: dict[str, Any]
    network_mode: str = "awsvpc"
    pid_mode: str | None = None
    service: bool = True
    exec_enabled: bool = False
    tasks: int = 2
    task_age_days: int = 3
    extra: dict[str, Any] = field(default_factory=dict)


SECURE = {"readonlyRootFilesystem": True, "user": "1000:1000", "privileged": False}
WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "api",
        "api",
        "digest",
        {
            **SECURE,
            "environment": [{"name": "LOG_LEVEL", "value": "info"}],
            "secrets": [
                {
                    "name": "DB_PASSWORD",
                    "valueFrom": "arn:aws:secretsmanager:{region}:{account}:secret:api/db",
                }
            ],
        },
        tasks=3,
    ),
    Workload(
        "web",
        "web",
        "digest",
        {**SECURE, "environment": [{"name": "PORT", "value": "8080"}]},
        tasks=3,
    ),
    Workload(
        "worker",
        "worker",
        "tag",
        {
            "environment": [
                {"name": "QUEUE_URL", "value": "https://sqs.{region}.amazonaws.com/{account}/jobs"}
            ]
        },
        exec_enabled=True,
        tasks=2,
        task_age_days=95,
    ),
    Workload(
        "admin",
        "admin",
        "tag",
        {
            "privileged": True,
            "user": "root",
            "readonlyRootFilesystem": False,
            "environment": [
                {"name": "AWS_ACCESS_KEY_ID", "value": "AKIAIOSFODNN7EXAMPLE"},
                {
                    "name": "AWS_SECRET_ACCESS_KEY",
                    "value": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                },
                {"name": "DB_PASSWORD", "value": "hunter2-but-longer-9f8e7d"},
            ],
        },
        network_mode="host",
        pid_mode="host",
        exec_enabled=True,
        tasks=0,
    ),
    Workload(
        "cron",
        "cron",
        "none",
        {
            "user": "0",
            "environment": [
                {
                    "name": "SLACK_TOKEN",
                    "value": "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx",
                }
            ],
        },
        service=False,
        tasks=1,
        task_age_days=40,
    ),
)


# Images that violate the image rules (issue 18): a secret baked into the config and a RUN
# line of its history; CRITICAL vulnerabilities in a scanned image. Repositories without scan
# on push (the MUTABLE ones) are never scanned: `ecr.image_not_scanned`.
BAKED_SECRET = "Im4ge-Baked-S3cret-7c2d"  # noqa: S105 - a demo value, looked for by the tests
SECRET_IMAGES = frozenset({"admin"})
CRITICAL_IMAGES = frozenset({"web"})


def _built(cell: Cell, repository: str, tag: str) -> BuiltImage:
    """A real (tiny) image: config, history and one tar.gz layer, distinct per cell."""
    env = ["PATH=/usr/local/bin:/usr/bin:/bin", f"APP={repository}"]
    history = [
        "/bin/sh -c #(nop) ADD file:4f2a9c in / ",
        f"/bin/sh -c #(nop) COPY dir:{repository} in /app ",
    ]
    if repository in SECRET_IMAGES:
        env.append(f"REGISTRY_PASSWORD={BAKED_SECRET}")
        history.append(f"/bin/sh -c curl -fsS -u ci:{BAKED_SECRET} https://artifacts.example/")
    return build_image(
        env=tuple(env),
        history=tuple(history),
        labels={
            "org.opencontainers.image.source": f"{cell.account}/{cell.region}/{repository}:{tag}"
        },
        layers=({f"app/{repository}.py": b"print('ok')\n"},),
        docker=True,
    )


@dataclass(frozen=True, slots=True)
class PushedImage:
    uri: str  # repository URI
    digest: str
    tag: str
    age_days: int
    secret: bool = False  # a secret in its config and history
    scanned: bool = True  # a completed scan, in a repository with scan on push
    critical: bool = False  # its scan reports CRITICAL findings


def push_image(cell: Cell, name: str, mutability: str, tag: str, age_days: int) -> PushedImage:
    """Create one repository and push one image into it, pushed `age_days` ago."""
    ecr, b = cell.client("ecr"), cell.builder
    params: dict[str, Any] = {
        "repositoryName": name,
        "imageTagMutability": mutability,
        "imageScanningConfiguration": {"scanOnPush": mutability.startswith("IMMUTABLE")},
        "tags": [{"Key": k, "Value": v} for k, v in TERRAFORM_TAGS.items()],
    }
    if mutability.endswith("_WITH_EXCLUSION"):
        params["imageTagMutabilityExclusionFilters"] = [
            {"filterType": "WILDCARD", "filter": "dev-*"}
        ]
    repo = ecr.create_repository(**params)["repository"]
    b.add("ecr.repository")
    if mutability.startswith("MUTABLE"):
        b.fail("ecr.tag_mutable", repo["repositoryArn"])
    else:
        b.passes("ecr.repository", repo["repositoryArn"])
    built = _built(cell, name, tag)
    demo_blobs().add(built)
    digest = push(ecr, name, built, tag)
    aging.set_image_pushed_at(cell.account, cell.region, name, digest, cell.ago(age_days))
    scanned = bool(params["imageScanningConfiguration"]["scanOnPush"])
    critical = scanned and name in CRITICAL_IMAGES
    if scanned:
        ecr.start_image_scan(repositoryName=name, imageId={"imageDigest": digest})
    if critical:
        counts = {"CRITICAL": 2, "HIGH": 3}
        aging.set_image_scan_findings(
            cell.account, cell.region, name, digest, counts, cell.ago(age_days)
        )
    b.add("ecr.image")
    return PushedImage(
        str(repo["repositoryUri"]),
        digest,
        tag,
        age_days,
        secret=name in SECRET_IMAGES,
        scanned=scanned,
        critical=critical,
    )


def _image(workload: Workload, image: PushedImage) -> str:
    if workload.image_ref == "digest":
        return f"{image.uri}@{image.digest}"
    if workload.image_ref == "tag":
        return f"{image.uri}:{image.tag}"
    return image.uri


def _register(cell: Cell, workload: Workload, image: str) -> str:
    container = json.loads(
        json.dumps(workload.container)
        .replace("{region}", cell.region)
        .replace("{account}", cell.account)
    )
    container.update(
        {"name": workload.family, "image": image, "essential": True, "memory": 512, "cpu": 256}
    )
    params: dict[str, Any] = {
        "family": workload.family,
        "containerDefinitions": [container],
        "networkMode": workload.network_mode,
        "requiresCompatibilities": ["EC2"] if workload.network_mode == "host" else ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "tags": [{"key": k, "value": v} for k, v in TERRAFORM_TAGS.items()],
    }
    if workload.pid_mode:
        params["pidMode"] = workload.pid_mode
    arn = cell.client("ecs").register_task_definition(**params)["taskDefinition"][
        "taskDefinitionArn"
    ]
    return str(arn)


def _task_definition_rules(cell: Cell, workload: Workload, arn: str, image: PushedImage) -> None:
    b, c = cell.builder, workload.container
    b.fail_if(image.secret, "ecr.image_secrets", arn)
    b.fail_if(not image.scanned, "ecr.image_not_scanned", arn)
    b.fail_if(image.critical, "ecr.image_vulnerabilities", arn)
    image_ok = image.scanned and not (image.secret or image.critical)
    b.add("ecs.task_definition")
    b.fail_if(workload.image_ref != "digest", "ecs.image_not_pinned", arn)
    b.fail_if(c.get("readonlyRootFilesystem") is not True, "ecs.rootfs_writable", arn)
    b.fail_if(c.get("privileged") is True, "ecs.privileged", arn)
    b.fail_if(c.get("user") in (None, "root", "0"), "ecs.root_user", arn)
    b.fail_if("host" in (workload.network_mode, workload.pid_mode), "ecs.host_namespace", arn)
    names = {e["name"] for e in c.get("environment", [])}
    leaky = bool(names & {"AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "SLACK_TOKEN"})
    b.fail_if(leaky, "ecs.env_secrets", arn)
    if (
        workload.image_ref == "digest"
        and not leaky
        and workload.network_mode != "host"
        and image_ok
    ):
        b.passes("ecs.task_definition", arn)


def create_cluster(cell: Cell, name: str) -> None:
    arn = cell.client("ecs").create_cluster(
        clusterName=name, tags=[{"key": k, "value": v} for k, v in TERRAFORM_TAGS.items()]
    )["cluster"]["clusterArn"]
    cell.builder.add("ecs.cluster")
    cell.builder.passes("ecs.cluster", arn)


def deploy(cell: Cell, cluster: str, workload: Workload, image: PushedImage) -> None:
    """Register the workload's task definition, create its service (if any) and run its
    tasks, dated as the workload says; record the rules each of them must fail."""
    ecs, b = cell.client("ecs"), cell.builder
    network = {
        "awsvpcConfiguration": {
            "subnets": cell.subnets[:2],
            "securityGroups": [cell.security_groups["app"]],
        }
    }
    td_arn = _register(cell, workload, _image(workload, image))
    _task_definition_rules(cell, workload, td_arn, image)
    group = f"family:{workload.family}"
    if workload.service:
        svc = ecs.create_service(
            cluster=cluster,
            serviceName=workload.family,
            taskDefinition=td_arn,
            desiredCount=max(workload.tasks, 1) * cell.scale,
            launchType="EC2" if workload.network_mode == "host" else "FARGATE",
            **({} if workload.network_mode == "host" else {"networkConfiguration": network}),
        )["service"]
        aging.set_service_state(
            cell.account,
            cell.region,
            cluster,
            workload.family,
            created=cell.ago(workload.task_age_days + 30),
            exec_enabled=workload.exec_enabled,
            running_count=workload.tasks * cell.scale,
        )
        b.add("ecs.service")
        b.fail_if(workload.exec_enabled, "ecs.exec_enabled", svc["serviceArn"])
        if not workload.exec_enabled:
            b.passes("ecs.service", svc["serviceArn"])
        group = f"service:{workload.family}"
    count = workload.tasks * cell.scale
    if count > 0:
        tasks = ecs.run_task(
            cluster=cluster,
            taskDefinition=td_arn,
            count=count,
            launchType="FARGATE",
            networkConfiguration=network,
            group=group,
        )["tasks"]
        arns = [t["taskArn"] for t in tasks]
        started = cell.ago(workload.task_age_days)
        aging.set_task_times(
            cell.account,
            cell.region,
            cluster,
            dict.fromkeys(arns, started),
            dict.fromkeys(arns, image.digest),
        )
        b.add("ecs.task", len(arns))
        old_task = cell.now - started > timedelta(days=TASK_MAX_AGE_DAYS)
        old_image = image.age_days > ECR_IMAGE_MAX_AGE_DAYS
        for arn in arns:
            b.fail_if(old_task, "ecs.task_max_age", arn)
            b.fail_if(old_image, "ecr.running_image_age", arn)
            if not (old_task or old_image):
                b.passes("ecs.task", arn)


def seed_ecs(cell: Cell) -> None:
    """The `apps` cluster: one repository and one workload per entry of WORKLOADS."""
    images = {
        name: push_image(cell, name, mutability, tag, age)
        for name, mutability, tag, age in REPOSITORIES
    }
    create_cluster(cell, CLUSTER)
    for workload in WORKLOADS:
        deploy(cell, CLUSTER, workload, images[workload.repository])

"""A large fleet for benchmarks: thousands of instances, hundreds of ECS services.

Built from the same pieces as the demo fleet, in batches: instances come from Auto Scaling
groups of up to 50 (moto launches a whole group in one call and returns a small response),
pets from one RunInstances call, tasks from one RunTask call per service. Roughly one
resource in ten breaks a rule, so evaluation has real work and real findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from auditor.demo import aging
from auditor.demo.cell import CLEAN_USER_DATA, LEAKY_USER_DATA, Cell, InstanceFacts, b64, tag_list
from auditor.demo.fleet import account_session
from auditor.demo.manifest import FleetManifest, ManifestBuilder
from auditor.demo.seed_ec2 import (
    IMDS_OPTIONAL,
    IMDS_REQUIRED,
    OPS_KEY,
    create_asg,
    create_launch_template,
    lt_data,
    seed_amis,
    seed_network,
)
from auditor.demo.seed_ecs import SECURE, Workload, create_cluster, deploy, push_image
from auditor.demo.seed_eks import seed_eks

ASG_SIZE = 50
PET_SHARE = 100  # one instance in this many is hand-launched


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _seed_asg_fleet(cell: Cell, instances: int) -> None:
    """`instances` spread over ASGs of ASG_SIZE; every 10th group is a legacy one."""
    sizes = _split(instances, max(1, -(-instances // ASG_SIZE)))
    for number, size in enumerate(sizes):
        if size == 0:
            continue
        legacy = number % 10 == 9
        name = f"svc-{number:04d}"
        if legacy:
            data = lt_data(
                cell,
                "old",
                ["app"],
                imds=IMDS_OPTIONAL,
                user_data=b64(CLEAN_USER_DATA),
                key=OPS_KEY,
            )
        else:
            data = lt_data(
                cell, "fresh", ["web"], imds=IMDS_REQUIRED, user_data=b64(CLEAN_USER_DATA)
            )
        template_id = create_launch_template(cell, name, [data], default=1)
        lt_arn = cell.lt_arn(template_id)
        cell.builder.fail_if(legacy, "lt.ssh_keypair", lt_arn)
        cell.builder.fail_if(legacy, "lt.imdsv2_required", lt_arn)
        asg_arn, ids = create_asg(
            cell,
            name,
            size=size,
            launch_template={
                "LaunchTemplateId": template_id,
                "Version": "$Latest" if legacy else "1",
            },
            max_lifetime_days=None if legacy else 14,
        )
        cell.builder.fail_if(legacy, "asg.ami_age", asg_arn)
        ami = cell.amis["old" if legacy else "fresh"]
        facts = InstanceFacts(
            ami,
            cell.ago(120 if legacy else 1 + number % 20),
            key_name=OPS_KEY if legacy else None,
            imds_required=not legacy,
        )
        aging.set_instance_metadata_options(
            cell.account, cell.region, ids, IMDS_OPTIONAL if legacy else IMDS_REQUIRED
        )
        aging.set_instance_launch_times(
            cell.account, cell.region, dict.fromkeys(ids, facts.launched)
        )
        for instance_id in ids:
            cell.record_instance(instance_id, facts)


def _seed_pets(cell: Cell, count: int) -> None:
    if count == 0:
        return
    ami = cell.amis["old"]
    reservation = cell.client("ec2").run_instances(
        ImageId=ami.image_id,
        MinCount=count,
        MaxCount=count,
        InstanceType="t3.small",
        KeyName=OPS_KEY,
        UserData=LEAKY_USER_DATA,
        SubnetId=cell.subnets[-1],
        SecurityGroupIds=[cell.security_groups["ssh-open"]],
        TagSpecifications=[{"ResourceType": "instance", "Tags": tag_list({"Name": "pet"})}],
    )
    ids = [i["InstanceId"] for i in reservation["Instances"]]
    facts = InstanceFacts(ami, cell.ago(200), key_name=OPS_KEY, userdata_secret=True, managed=False)
    aging.set_instance_launch_times(cell.account, cell.region, dict.fromkeys(ids, facts.launched))
    for instance_id in ids:
        cell.record_instance(instance_id, facts)


def _workload(number: int, tasks: int) -> Workload:
    """Service `number`: mostly locked down and digest-pinned; every 10th tag-pinned with
    ECS Exec on, every 20th (offset) leaking a password through its environment."""
    family = f"svc-{number:04d}"
    age = 60 if number % 15 == 0 else 2
    if number % 10 == 3:
        return Workload(family, "", "tag", {}, exec_enabled=True, tasks=tasks, task_age_days=age)
    env = [{"name": "LOG_LEVEL", "value": "info"}]
    if number % 20 == 7:
        env.append({"name": "DB_PASSWORD", "value": f"pw-{number:04d}-Zq8!xT2#"})
    return Workload(
        family, "", "digest", {**SECURE, "environment": env}, tasks=tasks, task_age_days=age
    )


def seed_ecs_services(cell: Cell, services: int, tasks_per_service: int) -> None:
    """`services` services in clusters of 50, one repository per 10 services."""
    images = {}
    for repo in range(-(-services // 10)):
        mutability = "MUTABLE" if repo % 5 == 4 else "IMMUTABLE"
        age = 200 if repo % 7 == 6 else 5 + repo % 25
        images[repo] = push_image(cell, f"svc-{repo:03d}", mutability, "1.0.0", age)
    for number in range(services):
        cluster = f"bulk-{number // 50:02d}"
        if number % 50 == 0:
            create_cluster(cell, cluster)
        deploy(cell, cluster, _workload(number, tasks_per_service), images[number // 10])


def seed_bulk(
    endpoint_url: str,
    *,
    instances: int = 5000,
    ecs_services: int = 500,
    tasks_per_service: int = 1,
    accounts: Sequence[str] = ("111111111111",),
    regions: Sequence[str] = ("us-east-1",),
    now: datetime,
) -> FleetManifest:
    """Seed about `instances` EC2 instances and `ecs_services` ECS services (each with its
    own task definition and `tasks_per_service` running tasks), plus one EKS estate and the
    ECR repositories per (account, region), spread evenly over the cells.

    EKS node instances (6 per cell, 8 on even cells) come on top of `instances`.
    """
    if now.tzinfo is None:
        raise ValueError("now must be a tz-aware UTC datetime")
    cells = [(account, region) for account in accounts for region in regions]
    instance_split = _split(instances, len(cells))
    service_split = _split(ecs_services, len(cells))
    builder = ManifestBuilder()
    sessions = {account: account_session(endpoint_url, account) for account in accounts}
    for index, (account, region) in enumerate(cells):
        cell = Cell(
            account=account,
            region=region,
            index=index,
            now=now,
            scale=1,
            session=sessions[account],
            endpoint_url=endpoint_url,
            builder=builder,
        )
        seed_network(cell, ("web", "app", "ssh-corp", "ssh-open"))
        seed_amis(cell, ("fresh", "old"))
        pets = instance_split[index] // PET_SHARE
        _seed_asg_fleet(cell, instance_split[index] - pets)
        _seed_pets(cell, pets)
        seed_ecs_services(cell, service_split[index], tasks_per_service)
        seed_eks(cell)
    return builder.build(endpoint_url, tuple(accounts), tuple(regions), now)

"""Pass, fail and unknown cases for the IaC rules (declared iac.resource against live)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from auditor.model import Kind, Resource
from tests.checks.cases import Case
from tests.checks.resources import (
    ACCOUNT,
    REGION,
    TASKDEF_ARN,
    ecr_repository,
    ecs_service,
    gap,
    instance,
    permission,
    security_group,
)
from tests.conftest import NOW

SOURCE = "tests/prod.tfstate"


def declared(
    tf_type: str,
    address: str,
    target: Kind,
    rid: str,
    arn: str | None = None,
    values: dict[str, Any] | None = None,
    account: str = ACCOUNT,
    region: str = REGION,
) -> Resource:
    """An iac.resource as auditor.iac.terraform builds it."""
    attributes: dict[str, Any] = {
        "Type": tf_type,
        "Address": address,
        "Source": SOURCE,
        "TargetKind": target.value,
        "Id": rid,
        "Declared": values or {},
    }
    if arn:
        attributes["Arn"] = arn
    return Resource(
        kind=Kind.IAC_RESOURCE,
        arn=f"tf:{SOURCE}#{address}",
        id=address,
        account=account,
        region=region,
        tags={},
        attributes=attributes,
        observed_at=NOW,
    )


def case(
    rule: str, name: str, expect: str, subject: Resource, *related: Resource, **kw: Any
) -> Case:
    return Case(rule, name, expect, subject, related, **kw)


REPO = ecr_repository()
REPO_DECLARED = declared(
    "aws_ecr_repository",
    "aws_ecr_repository.web",
    Kind.ECR_REPOSITORY,
    "web",
    REPO.arn,
    {"image_tag_mutability": "IMMUTABLE"},
)
OTHER_DECLARED = declared(
    "aws_ecr_repository", "aws_ecr_repository.api", Kind.ECR_REPOSITORY, "api"
)
GONE = declared(
    "aws_instance",
    "aws_instance.bastion",
    Kind.EC2_INSTANCE,
    "i-0gone",
    f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0gone",
    {"instance_type": "t3.micro"},
)
SERVICE = ecs_service()
SG = security_group(permission(low=443, high=443, cidr="0.0.0.0/0"), permission(cidr="10.0.0.0/8"))
SG_INGRESS = [
    {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"],
     "ipv6_cidr_blocks": [], "security_groups": [], "self": False, "description": ""},
    {"protocol": "6", "from_port": 22, "to_port": 22, "cidr_blocks": ["10.0.0.0/8"],
     "ipv6_cidr_blocks": [], "security_groups": [], "self": False, "description": "ssh"},
]  # fmt: skip


def service_declared(task_definition: str) -> Resource:
    return declared(
        "aws_ecs_service",
        "aws_ecs_service.web",
        Kind.ECS_SERVICE,
        "prod/web",
        SERVICE.arn,
        {"task_definition": task_definition, "enable_execute_command": False},
    )


def sg_declared(ingress: list[dict[str, Any]]) -> Resource:
    return declared(
        "aws_security_group",
        "aws_security_group.web",
        Kind.EC2_SECURITY_GROUP,
        "sg-0web",
        SG.arn,
        {"ingress": ingress},
    )


IAC_CASES: tuple[Case, ...] = (
    # iac.unmanaged
    case("iac.unmanaged", "declared by ARN", "pass", REPO, REPO_DECLARED),
    case(
        "iac.unmanaged",
        "cloudformation stack",
        "pass",
        replace(REPO, tags={"aws:cloudformation:stack-name": "web"}),
        OTHER_DECLARED,
    ),
    case(
        "iac.unmanaged",
        "instance of a declared group",
        "pass",
        instance(),
        declared("aws_autoscaling_group", "aws_autoscaling_group.web", Kind.ASG, "web"),
    ),
    case("iac.unmanaged", "clickops repository", "fail", REPO, OTHER_DECLARED),
    case(
        "iac.unmanaged",
        "instance of an undeclared group",
        "fail",
        instance(),
        OTHER_DECLARED,
    ),
    case(
        "iac.unmanaged",
        "a state could not be read",
        "unknown",
        REPO,
        OTHER_DECLARED,
        gaps=(gap(Kind.IAC_RESOURCE, account="*", region="*"),),
    ),
    # iac.missing
    case("iac.missing", "found live", "pass", REPO_DECLARED, REPO),
    case("iac.missing", "deleted by hand", "fail", GONE, REPO),
    case(
        "iac.missing",
        "instances not listed",
        "unknown",
        GONE,
        gaps=(gap(Kind.EC2_INSTANCE),),
    ),
    case(
        "iac.missing",
        "account not audited",
        "unknown",
        declared(
            "aws_ecr_repository",
            "aws_ecr_repository.x",
            Kind.ECR_REPOSITORY,
            "x",
            account="999999999999",
        ),
    ),
    case(
        "iac.missing",
        "launch templates are listed only in use",
        "unknown",
        declared(
            "aws_launch_template", "aws_launch_template.web", Kind.EC2_LAUNCH_TEMPLATE, "lt-0unused"
        ),
    ),
    # iac.changed
    case("iac.changed", "as declared", "pass", REPO_DECLARED, REPO),
    case(
        "iac.changed",
        "tag mutability flipped by hand",
        "fail",
        REPO_DECLARED,
        ecr_repository(imageTagMutability="MUTABLE"),
    ),
    case(
        "iac.changed",
        "service on its declared revision",
        "pass",
        service_declared("web:7"),
        SERVICE,
    ),
    case(
        "iac.changed",
        "service on another revision",
        "fail",
        service_declared(TASKDEF_ARN.replace(":7", ":5")),
        SERVICE,
    ),
    case("iac.changed", "ingress normalized equal", "pass", sg_declared(SG_INGRESS), SG),
    case("iac.changed", "ingress opened by hand", "fail", sg_declared(SG_INGRESS[:1]), SG),
    case("iac.changed", "nothing live to compare", "unknown", GONE),
)

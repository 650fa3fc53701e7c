"""Findings, rules and gaps for the Slack tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from auditor.model import (
    JSON,
    CollectionGap,
    Finding,
    Kind,
    ResourceRef,
    RuleInfo,
    Service,
    Severity,
    Status,
    TrackedFinding,
)
from tests.conftest import NOW

RULES: dict[str, RuleInfo] = {
    rule_id: RuleInfo(
        id=rule_id,
        title=title,
        severity=severity,
        kind=Kind.EC2_INSTANCE,
        description="",
        rationale="",
        remediation="Replace the instance from a fresh build.",
        frameworks={"NIST 800-53": ("CM-2",), "CIS": ("5.1",), "PCI DSS v4": ("2.2.1",)},
    )
    for rule_id, title, severity in [
        ("ec2.ssh_keypair_attached", "Instance launched with an SSH key pair", Severity.HIGH),
        ("ec2.secrets_in_user_data", "Secrets in instance user data", Severity.CRITICAL),
        ("ec2.max_age", "Instance older than the maximum age", Severity.MEDIUM),
        ("ecs.mutable_image_tag", "Task runs a mutable image tag", Severity.HIGH),
    ]
}


def instance_arn(n: int, account: str = "111111111111", region: str = "us-east-1") -> str:
    return f"arn:aws:ec2:{region}:{account}:instance/i-{n:017x}"


def tracked(
    rule_id: str,
    n: int,
    *,
    severity: Severity | None = None,
    account: str = "111111111111",
    region: str = "us-east-1",
    tags: Mapping[str, str] | None = None,
    evidence: Mapping[str, JSON] | None = None,
    message: str = "",
    status: Status = Status.FAIL,
    first_seen: datetime = NOW,
    resolved_at: datetime | None = None,
) -> TrackedFinding:
    arn = instance_arn(n, account, region)
    finding = Finding(
        rule_id=rule_id,
        severity=severity or RULES[rule_id].severity,
        status=status,
        resource=ResourceRef(
            arn=arn,
            id=arn.rsplit("/", 1)[1],
            kind=Kind.EC2_INSTANCE,
            account=account,
            region=region,
            tags=dict(tags or {}),
        ),
        message=message,
        evidence=dict(evidence or {"key_name": "deploy"}),
    )
    return TrackedFinding(
        finding=finding,
        first_seen=first_seen,
        last_seen=resolved_at - timedelta(minutes=15) if resolved_at else NOW,
        consecutive_cycles=1,
        resolved_at=resolved_at,
    )


def gap(
    account: str = "222222222222",
    region: str = "eu-west-1",
    operation: str = "ecs:ListClusters",
    error_code: str = "AccessDeniedException",
) -> CollectionGap:
    return CollectionGap(
        account=account,
        region=region,
        service=Service.ECS,
        kinds=(Kind.ECS_CLUSTER, Kind.ECS_SERVICE),
        operation=operation,
        error_code=error_code,
        message="User is not authorized to perform: ecs:ListClusters",
    )

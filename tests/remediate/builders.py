"""Small builders of snapshots, findings and rules for the remediation tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from auditor.model import (
    JSON,
    Finding,
    Kind,
    Resource,
    RuleInfo,
    Scope,
    Service,
    Severity,
    Snapshot,
    SnapshotView,
    Status,
    TrackedFinding,
)
from auditor.settings import RemediationConfig
from tests.conftest import NOW

ACCOUNT = "123456789012"
REGION = "us-east-1"


def resource(
    kind: Kind,
    rid: str,
    arn: str,
    attributes: Mapping[str, JSON],
    tags: Mapping[str, str] | None = None,
    account: str = ACCOUNT,
) -> Resource:
    return Resource(
        kind=kind,
        arn=arn,
        id=rid,
        account=account,
        region=REGION,
        tags=dict(tags or {}),
        attributes=dict(attributes),
        observed_at=NOW,
    )


def instance(
    iid: str,
    asg: str | None = None,
    nodegroup: tuple[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    launch_days_ago: int = 40,
    lt_version: str | None = None,
    account: str = ACCOUNT,
) -> Resource:
    attrs: dict[str, JSON] = {
        "InstanceId": iid,
        "LaunchTime": (NOW - timedelta(days=launch_days_ago)).isoformat(timespec="seconds"),
        "State": {"Name": "running"},
    }
    if asg:
        attrs["AutoScalingGroupName"] = asg
    if nodegroup:
        attrs["EksClusterName"], attrs["EksNodegroupName"] = nodegroup
    if lt_version:
        attrs["LaunchTemplate"] = {"LaunchTemplateId": "lt-0abc", "Version": lt_version}
    arn = f"arn:aws:ec2:{REGION}:{account}:instance/{iid}"
    return resource(Kind.EC2_INSTANCE, iid, arn, attrs, tags, account)


def asg(
    name: str,
    members: Sequence[str],
    desired: int | None = None,
    min_size: int = 0,
    tags: Mapping[str, str] | None = None,
    states: Mapping[str, str] | None = None,
    account: str = ACCOUNT,
    resolved_version: str = "2",
    member_version: str = "2",
) -> Resource:
    states = states or {}
    attrs: dict[str, JSON] = {
        "AutoScalingGroupName": name,
        "MinSize": min_size,
        "MaxSize": max(len(members) * 2, 1),
        "DesiredCapacity": len(members) if desired is None else desired,
        "LaunchTemplate": {"LaunchTemplateId": "lt-0abc", "Version": "$Latest"},
        "ResolvedLaunchTemplateVersion": resolved_version,
        "Instances": [
            {
                "InstanceId": m,
                "LifecycleState": states.get(m, "InService"),
                "HealthStatus": "Healthy",
                "LaunchTemplate": {"LaunchTemplateId": "lt-0abc", "Version": member_version},
            }
            for m in members
        ],
    }
    arn = (
        f"arn:aws:autoscaling:{REGION}:{account}:autoScalingGroup:"
        f"00000000-0000-0000-0000-000000000000:autoScalingGroupName/{name}"
    )
    return resource(Kind.ASG, name, arn, attrs, tags, account)


def ecs_service(
    name: str,
    desired: int = 10,
    deployments: Sequence[Mapping[str, JSON]] | None = None,
    tags: Mapping[str, str] | None = None,
    account: str = ACCOUNT,
) -> Resource:
    cluster_arn = f"arn:aws:ecs:{REGION}:{account}:cluster/prod"
    if deployments is None:
        deployments = [{"id": "ecs-svc/1", "status": "PRIMARY", "rolloutState": "COMPLETED"}]
    attrs: dict[str, JSON] = {
        "serviceArn": f"arn:aws:ecs:{REGION}:{account}:service/prod/{name}",
        "serviceName": name,
        "clusterArn": cluster_arn,
        "taskDefinition": f"arn:aws:ecs:{REGION}:{account}:task-definition/{name}:3",
        "desiredCount": desired,
        "deployments": [dict(d) for d in deployments],
    }
    return resource(
        Kind.ECS_SERVICE, f"prod/{name}", str(attrs["serviceArn"]), attrs, tags, account
    )


def ecs_task(task_id: str, service: str | None, account: str = ACCOUNT) -> Resource:
    attrs: dict[str, JSON] = {
        "taskArn": f"arn:aws:ecs:{REGION}:{account}:task/prod/{task_id}",
        "clusterArn": f"arn:aws:ecs:{REGION}:{account}:cluster/prod",
        "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{account}:task-definition/web:3",
    }
    if service:
        attrs["ServiceName"] = service
        attrs["group"] = f"service:{service}"
    return resource(Kind.ECS_TASK, f"prod/{task_id}", str(attrs["taskArn"]), attrs, None, account)


def nodegroup(
    cluster: str, name: str, status: str = "ACTIVE", desired: int = 10, account: str = ACCOUNT
) -> Resource:
    arn = f"arn:aws:eks:{REGION}:{account}:nodegroup/{cluster}/{name}/abcd"
    attrs: dict[str, JSON] = {
        "nodegroupName": name,
        "nodegroupArn": arn,
        "clusterName": cluster,
        "status": status,
        "scalingConfig": {"minSize": 1, "maxSize": desired * 2, "desiredSize": desired},
        "resources": {"autoScalingGroups": [{"name": f"eks-{name}"}]},
    }
    return resource(Kind.EKS_NODEGROUP, f"{cluster}/{name}", arn, attrs, None, account)


def launch_template(lt_id: str = "lt-0abc") -> Resource:
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/{lt_id}"
    return resource(Kind.EC2_LAUNCH_TEMPLATE, lt_id, arn, {"LaunchTemplateId": lt_id})


def view_of(*resources: Resource) -> SnapshotView:
    snap = Snapshot(
        id="snap-1",
        started_at=NOW,
        finished_at=NOW,
        scope=Scope((ACCOUNT,), (REGION,), (Service.EC2, Service.ECS, Service.EKS)),
        resources=tuple(resources),
        gaps=(),
        api_calls={},
    )
    return SnapshotView(snap)


def tracked(
    rule_id: str,
    res: Resource,
    cycles: int = 3,
    severity: Severity = Severity.HIGH,
    status: Status = Status.FAIL,
    first_seen: datetime | None = None,
) -> TrackedFinding:
    finding = Finding(
        rule_id=rule_id,
        severity=severity,
        status=status,
        resource=res.ref,
        message=f"{rule_id} failed",
        evidence={},
    )
    first = first_seen or NOW - timedelta(days=cycles)
    return TrackedFinding(
        finding=finding, first_seen=first, last_seen=NOW, consecutive_cycles=cycles
    )


def rule(
    rule_id: str, kind: Kind, action: str | None = "replace", source_caused: bool = False
) -> RuleInfo:
    return RuleInfo(
        id=rule_id,
        title=rule_id,
        severity=Severity.HIGH,
        kind=kind,
        description="",
        rationale="",
        remediation="",
        frameworks={},
        action=action,
        source_caused=source_caused,
    )


RULES: Mapping[str, RuleInfo] = {
    r.id: r
    for r in (
        rule("ec2.max_age", Kind.EC2_INSTANCE),
        rule("ec2.ami_age", Kind.EC2_INSTANCE),
        rule("ecs.task_max_age", Kind.ECS_TASK),
        rule("ecs.image_not_pinned", Kind.ECS_TASK_DEFINITION, action=None, source_caused=True),
        rule("lt.ssh_keypair", Kind.EC2_LAUNCH_TEMPLATE, action=None, source_caused=True),
        rule("eks.nodegroup_ami_stale", Kind.EKS_NODEGROUP),
        rule("ec2.imdsv2_required", Kind.EC2_INSTANCE, action=None),
    )
}


def config(**overrides: object) -> RemediationConfig:
    base: dict[str, object] = {
        "mode": "enforce",
        "rules": ("ec2.max_age", "ec2.ami_age", "ecs.task_max_age", "eks.nodegroup_ami_stale"),
        "max_actions_per_cycle": 10,
        "max_actions_per_account": 10,
        "max_percent_per_group": 50,
        "min_consecutive_cycles": 2,
    }
    base.update(overrides)
    return RemediationConfig.model_validate(base)

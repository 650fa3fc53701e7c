"""Which managed group replaces a violating resource, and where a source-caused finding
comes from.

An instance is replaced by its group (an EKS node group before a plain Auto Scaling group:
EKS owns the Auto Scaling group of a managed node group), a task by its ECS service. A
resource with no group is a pet: nothing would bring it back, so it is never terminated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from auditor.model import JSON, ActionStatus, Kind, Resource, ResourceRef, SnapshotView
from auditor.remediate.actions import (
    FORCE_NEW_DEPLOYMENT,
    NO_ACTION,
    START_INSTANCE_REFRESH,
    TERMINATE_INSTANCE,
    UPDATE_NODEGROUP_VERSION,
)

EKS_NODEGROUP_TAG = "eks:nodegroup-name"
EKS_CLUSTER_TAG = "eks:cluster-name"


@dataclass(frozen=True, slots=True)
class Target:
    """The group whose replacement mechanism fixes the finding."""

    group: Resource
    action: str


@dataclass(frozen=True, slots=True)
class NoTarget:
    """Why no group can replace the resource: a pet (not applicable) or unseen (held)."""

    status: ActionStatus
    reason: str


def group_action(kind: Kind, asg_strategy: str) -> str:
    """The replacement action for a group of this kind."""
    if kind is Kind.ASG:
        return TERMINATE_INSTANCE if asg_strategy == "terminate-one" else START_INSTANCE_REFRESH
    if kind is Kind.ECS_SERVICE:
        return FORCE_NEW_DEPLOYMENT
    if kind is Kind.EKS_NODEGROUP:
        return UPDATE_NODEGROUP_VERSION
    return NO_ACTION


def _str(attrs: Mapping[str, JSON], key: str) -> str | None:
    value = attrs.get(key)
    return value if isinstance(value, str) and value else None


def _unseen(what: str) -> NoTarget:
    return NoTarget(
        ActionStatus.HELD,
        f"{what} is not in this snapshot: nothing is done to what could not be seen",
    )


def _nodegroup(
    view: SnapshotView, account: str, region: str, cluster: str, name: str
) -> Target | NoTarget:
    group = view.find(Kind.EKS_NODEGROUP, account, region, f"{cluster}/{name}")
    if group is None:
        return _unseen(f"EKS node group {cluster}/{name}")
    return Target(group, UPDATE_NODEGROUP_VERSION)


def _asg_or_nodegroup(view: SnapshotView, asg: Resource, strategy: str) -> Target | NoTarget:
    nodegroup = asg.tags.get(EKS_NODEGROUP_TAG)
    cluster = asg.tags.get(EKS_CLUSTER_TAG)
    if nodegroup and cluster:
        return _nodegroup(view, asg.account, asg.region, cluster, nodegroup)
    return Target(asg, group_action(Kind.ASG, strategy))


def resolve_target(resource: Resource, view: SnapshotView, asg_strategy: str) -> Target | NoTarget:
    """The group that replaces `resource`, or why there is none."""
    attrs = resource.attributes
    if resource.kind is Kind.EC2_INSTANCE:
        nodegroup = _str(attrs, "EksNodegroupName")
        cluster = _str(attrs, "EksClusterName")
        if nodegroup and cluster:
            return _nodegroup(view, resource.account, resource.region, cluster, nodegroup)
        asg_name = _str(attrs, "AutoScalingGroupName")
        if asg_name:
            asg = view.find(Kind.ASG, resource.account, resource.region, asg_name)
            if asg is None:
                return _unseen(f"Auto Scaling group {asg_name}")
            return _asg_or_nodegroup(view, asg, asg_strategy)
        return NoTarget(
            ActionStatus.NOT_APPLICABLE,
            "pet: needs a managed replacement (this instance is in no Auto Scaling group or "
            "EKS node group, so nothing would replace it; it is never terminated)",
        )
    if resource.kind is Kind.ASG:
        return _asg_or_nodegroup(view, resource, asg_strategy)
    if resource.kind is Kind.ECS_TASK:
        service = _str(attrs, "ServiceName")
        cluster_arn = _str(attrs, "clusterArn") or ""
        if service is None:
            return NoTarget(
                ActionStatus.NOT_APPLICABLE,
                "pet: standalone ECS task (not started by a service), nothing would replace "
                "it; run it from an ECS service",
            )
        cluster = cluster_arn.rsplit("/", 1)[-1]
        group = view.find(
            Kind.ECS_SERVICE, resource.account, resource.region, f"{cluster}/{service}"
        )
        if group is None:
            return _unseen(f"ECS service {cluster}/{service}")
        return Target(group, FORCE_NEW_DEPLOYMENT)
    if resource.kind in (Kind.ECS_SERVICE, Kind.EKS_NODEGROUP):
        return Target(resource, group_action(resource.kind, asg_strategy))
    return NoTarget(
        ActionStatus.NOT_APPLICABLE,
        f"no automatic replacement exists for a {resource.kind.value}: fix it at its source",
    )


def _lt_arn(resource: Resource, lt_id: str) -> str:
    return f"arn:aws:ec2:{resource.region}:{resource.account}:launch-template/{lt_id}"


def _lt_id(value: JSON, key: str) -> str | None:
    if isinstance(value, Mapping):
        found = value.get(key)
        return found if isinstance(found, str) and found else None
    return None


def source_of(
    ref: ResourceRef, resource: Resource | None, view: SnapshotView, evidence: Mapping[str, JSON]
) -> str:
    """The ARN of the thing to fix when replacement would recreate the finding."""
    declared = evidence.get("source_arn")
    if isinstance(declared, str) and declared:
        return declared
    if resource is None:
        return ref.arn
    attrs = resource.attributes
    kind = resource.kind
    if kind is Kind.ECR_IMAGE:
        return resource.arn.split("@", 1)[0]
    if kind is Kind.ECS_TASK:
        return _str(attrs, "taskDefinitionArn") or resource.arn
    if kind is Kind.ECS_SERVICE:
        return _str(attrs, "taskDefinition") or resource.arn
    if kind is Kind.EKS_NODEGROUP:
        lt = _lt_id(attrs.get("launchTemplate"), "id")
        return _lt_arn(resource, lt) if lt else resource.arn
    if kind is Kind.ASG:
        lt = _lt_id(attrs.get("LaunchTemplate"), "LaunchTemplateId")
        return _lt_arn(resource, lt) if lt else resource.arn
    if kind is Kind.EC2_INSTANCE:
        lt = _lt_id(attrs.get("LaunchTemplate"), "LaunchTemplateId")
        if lt:
            return _lt_arn(resource, lt)
        asg_name = _str(attrs, "AutoScalingGroupName")
        asg = view.find(Kind.ASG, resource.account, resource.region, asg_name) if asg_name else None
        if asg is not None:
            return source_of(ref, asg, view, {})
    return resource.arn

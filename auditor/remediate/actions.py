"""The automatic actions remediation can take, as plain data.

Each action names the boto3 client and method it calls and the IAM actions it needs.
`deploy/iam/remediation.json` must grant exactly the union of these: a meta-test
checks it, so adding an action without its permission (or a stray permission) fails CI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from auditor.model import Kind

START_INSTANCE_REFRESH = "start_instance_refresh"
TERMINATE_INSTANCE = "terminate_instance"
FORCE_NEW_DEPLOYMENT = "force_new_deployment"
UPDATE_NODEGROUP_VERSION = "update_nodegroup_version"
# not an API call: the record of a finding that replacement cannot fix
NO_ACTION = "none"

# the resource tag that stops remediation of a resource or of its whole group
NO_REMEDIATE_TAG = "auditor:no-remediate"


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """How an action is carried out, and what it is allowed to touch."""

    name: str
    target_kind: Kind
    client: str  # boto3 client name
    method: str  # boto3 client method
    operation: str  # "service:Operation", as the API call counter and CloudTrail name it
    iam: tuple[str, ...]


ACTIONS: Mapping[str, ActionSpec] = {
    START_INSTANCE_REFRESH: ActionSpec(
        name=START_INSTANCE_REFRESH,
        target_kind=Kind.ASG,
        client="autoscaling",
        method="start_instance_refresh",
        operation="autoscaling:StartInstanceRefresh",
        iam=("autoscaling:StartInstanceRefresh",),
    ),
    TERMINATE_INSTANCE: ActionSpec(
        name=TERMINATE_INSTANCE,
        target_kind=Kind.ASG,
        client="autoscaling",
        method="terminate_instance_in_auto_scaling_group",
        operation="autoscaling:TerminateInstanceInAutoScalingGroup",
        iam=("autoscaling:TerminateInstanceInAutoScalingGroup",),
    ),
    FORCE_NEW_DEPLOYMENT: ActionSpec(
        name=FORCE_NEW_DEPLOYMENT,
        target_kind=Kind.ECS_SERVICE,
        client="ecs",
        method="update_service",
        operation="ecs:UpdateService",
        iam=("ecs:UpdateService",),
    ),
    UPDATE_NODEGROUP_VERSION: ActionSpec(
        name=UPDATE_NODEGROUP_VERSION,
        target_kind=Kind.EKS_NODEGROUP,
        client="eks",
        method="update_nodegroup_version",
        operation="eks:UpdateNodegroupVersion",
        iam=("eks:UpdateNodegroupVersion",),
    ),
}

# action name -> the IAM actions it needs (plain data, for docs and the policy meta-test)
IAM_PERMISSIONS: Mapping[str, tuple[str, ...]] = {name: spec.iam for name, spec in ACTIONS.items()}


def required_iam_actions() -> frozenset[str]:
    """Every IAM action any remediation action needs: the remediation policy, exactly."""
    return frozenset(a for perms in IAM_PERMISSIONS.values() for a in perms)

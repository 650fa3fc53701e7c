"""Python checks that a YAML rule names with `check: <name>`.

A check is a plain function `(resource, params, view, clock) -> CheckResult`. It reads only
the resource, its params, the read-only snapshot view and the injected clock: it never calls
AWS and never reads the wall clock, so every evaluation can be replayed. The registry below
is explicit: adding a check means adding one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from auditor.checks import (
    access,
    autoscaling,
    containers,
    drift,
    drift_ecs,
    ecr_images,
    iac,
    iac_compare,
    images,
    kubernetes,
    launch_templates,
    network,
    secrets,
    stale,
)
from auditor.checks.result import PASS, Check, CheckResult, Outcome, fail, unknown

CHECKS: Mapping[str, Check] = {
    "ec2_ami_age": images.ec2_ami_age,
    "ec2_ami_deprecated_or_gone": images.ec2_ami_deprecated_or_gone,
    "ec2_stopped_too_long": images.ec2_stopped_too_long,
    "ec2_userdata_secrets": secrets.ec2_userdata_secrets,
    "lt_userdata_secrets": secrets.lt_userdata_secrets,
    "lt_ssh_keypair": launch_templates.lt_ssh_keypair,
    "lt_imdsv2_required": launch_templates.lt_imdsv2_required,
    "asg_ami_age": autoscaling.asg_ami_age,
    "asg_max_instance_lifetime": autoscaling.asg_max_instance_lifetime,
    "sg_ssh_open_world": network.sg_ssh_open_world,
    "ecs_env_secrets": secrets.ecs_env_secrets,
    "ecs_image_not_pinned": containers.ecs_image_not_pinned,
    "ecs_root_user": containers.ecs_root_user,
    "ecr_running_image_age": containers.ecr_running_image_age,
    "ecr_image_secrets": ecr_images.ecr_image_secrets,
    "ecr_image_not_scanned": ecr_images.ecr_image_not_scanned,
    "ecr_image_vulnerabilities": ecr_images.ecr_image_vulnerabilities,
    "eks_version_unsupported": kubernetes.eks_version_unsupported,
    "eks_endpoint_public": kubernetes.eks_endpoint_public,
    "eks_nodegroup_remote_access": kubernetes.eks_nodegroup_remote_access,
    "eks_nodegroup_ami_stale": kubernetes.eks_nodegroup_ami_stale,
    "drift_fields": drift.drift_fields,
    "lt_default_changed": drift.lt_default_changed,
    "ecs_service_modified": drift_ecs.ecs_service_modified,
    "asg_instance_stale": stale.asg_instance_stale,
    "eks_node_stale": stale.eks_node_stale,
    "iac_unmanaged": iac.iac_unmanaged,
    "iac_missing": iac.iac_missing,
    "iac_changed": iac.iac_changed,
    "access_ssm_session": access.access_ssm_session,
    "access_instance_connect": access.access_instance_connect,
    "access_ecs_exec": access.access_ecs_exec,
}

# Checks that compare a resource with its baseline (first observed version): the pipeline
# loads baselines only for the kinds of rules using one of these.
BASELINE_CHECKS: frozenset[str] = frozenset({"drift_fields", "ecs_service_modified"})

# Checks whose params need more than a type: (effective params) -> problems, checked when
# rules load so a bad field path or normalizer is a named error, not a silent pass.
PARAM_VALIDATORS: Mapping[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "drift_fields": drift.validate_drift_fields,
    "ecs_service_modified": drift_ecs.validate_ecs_service,
    "iac_changed": iac_compare.validate_compare,
}

__all__ = [
    "BASELINE_CHECKS",
    "CHECKS",
    "PARAM_VALIDATORS",
    "PASS",
    "Check",
    "CheckResult",
    "Outcome",
    "fail",
    "unknown",
]

"""Python checks that a YAML rule names with `check: <name>`.

A check is a plain function `(resource, params, view, clock) -> CheckResult`. It reads only
the resource, its params, the read-only snapshot view and the injected clock: it never calls
AWS and never reads the wall clock, so every evaluation can be replayed. The registry below
is explicit: adding a check means adding one line here.
"""

from __future__ import annotations

from collections.abc import Mapping

from auditor.checks import (
    autoscaling,
    containers,
    images,
    kubernetes,
    launch_templates,
    network,
    secrets,
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
    "eks_version_unsupported": kubernetes.eks_version_unsupported,
    "eks_endpoint_public": kubernetes.eks_endpoint_public,
    "eks_nodegroup_remote_access": kubernetes.eks_nodegroup_remote_access,
    "eks_nodegroup_ami_stale": kubernetes.eks_nodegroup_ami_stale,
}

__all__ = ["CHECKS", "PASS", "Check", "CheckResult", "Outcome", "fail", "unknown"]

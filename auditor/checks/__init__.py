"""Python checks that a YAML rule names with `check: <name>`.

A check is a plain function `(resource, params, view, clock) -> CheckResult`. It reads only
the resource, its params, the read-only snapshot view and the injected clock: it never calls
AWS and never reads the wall clock, so every evaluation can be replayed.

A check lives in the module named after the prefix of the rule id it implements
(`ec2.stopped_too_long` -> `checks/ec2.py: ec2_stopped_too_long`; the drift checks of
`drift.*` rules in `checks/drift.py`). The table below is explicit: adding a check means
adding its function and one line here, with everything the engine needs to know about it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.checks import access, asg, drift, ec2, ecr, ecs, eks, iac, iac_compare, lt, sg
from auditor.checks.result import PASS, Check, CheckResult, Outcome, fail, unknown

ParamValidator = Callable[[Mapping[str, Any]], list[str]]


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """A check function and what the engine must know about it."""

    fn: Check
    # compares a resource with its baseline (first observed version): the pipeline loads
    # baselines only for the kinds of rules whose check needs one
    needs_baseline: bool = False
    # (effective params) -> problems, for params that need more than a type; run when rules
    # load, so a bad field path or normalizer is a named error, not a silent pass
    validate_params: ParamValidator | None = None
    # its evidence comes from auditor.secrets (`rules explain` lists the detectors)
    finds_secrets: bool = False


CHECKS: Mapping[str, CheckSpec] = {
    "access_ecs_exec": CheckSpec(access.access_ecs_exec),
    "access_instance_connect": CheckSpec(access.access_instance_connect),
    "access_ssm_session": CheckSpec(access.access_ssm_session),
    "asg_ami_age": CheckSpec(asg.asg_ami_age),
    "asg_instance_stale": CheckSpec(asg.asg_instance_stale),
    "asg_max_instance_lifetime": CheckSpec(asg.asg_max_instance_lifetime),
    "drift_fields": CheckSpec(
        drift.drift_fields, needs_baseline=True, validate_params=drift.validate_drift_fields
    ),
    "ecs_service_modified": CheckSpec(
        drift.ecs_service_modified, needs_baseline=True, validate_params=drift.validate_ecs_service
    ),
    "lt_default_changed": CheckSpec(drift.lt_default_changed),
    "ec2_ami_age": CheckSpec(ec2.ec2_ami_age),
    "ec2_ami_deprecated_or_gone": CheckSpec(ec2.ec2_ami_deprecated_or_gone),
    "ec2_stopped_too_long": CheckSpec(ec2.ec2_stopped_too_long),
    "ec2_userdata_secrets": CheckSpec(ec2.ec2_userdata_secrets, finds_secrets=True),
    "ecr_running_image_age": CheckSpec(ecr.ecr_running_image_age),
    "ecs_env_secrets": CheckSpec(ecs.ecs_env_secrets, finds_secrets=True),
    "ecs_image_not_pinned": CheckSpec(ecs.ecs_image_not_pinned),
    "ecs_root_user": CheckSpec(ecs.ecs_root_user),
    "eks_endpoint_public": CheckSpec(eks.eks_endpoint_public),
    "eks_node_stale": CheckSpec(eks.eks_node_stale),
    "eks_nodegroup_ami_stale": CheckSpec(eks.eks_nodegroup_ami_stale),
    "eks_nodegroup_remote_access": CheckSpec(eks.eks_nodegroup_remote_access),
    "eks_version_unsupported": CheckSpec(eks.eks_version_unsupported),
    "iac_changed": CheckSpec(iac.iac_changed, validate_params=iac_compare.validate_compare),
    "iac_missing": CheckSpec(iac.iac_missing),
    "iac_unmanaged": CheckSpec(iac.iac_unmanaged),
    "lt_imdsv2_required": CheckSpec(lt.lt_imdsv2_required),
    "lt_ssh_keypair": CheckSpec(lt.lt_ssh_keypair),
    "lt_userdata_secrets": CheckSpec(lt.lt_userdata_secrets, finds_secrets=True),
    "sg_ssh_open_world": CheckSpec(sg.sg_ssh_open_world),
}

__all__ = [
    "CHECKS",
    "PASS",
    "Check",
    "CheckResult",
    "CheckSpec",
    "Outcome",
    "ParamValidator",
    "fail",
    "unknown",
]

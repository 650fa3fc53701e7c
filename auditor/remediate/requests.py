"""The exact API request for a group that passed every safety check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from auditor.model import JSON, Kind, Resource, SnapshotView, TrackedFinding, sha256_hex
from auditor.remediate import guards
from auditor.remediate.actions import (
    FORCE_NEW_DEPLOYMENT,
    START_INSTANCE_REFRESH,
    TERMINATE_INSTANCE,
    UPDATE_NODEGROUP_VERSION,
)
from auditor.remediate.targets import Target
from auditor.settings import RemediationConfig


@dataclass(frozen=True, slots=True)
class Built:
    """A request ready to plan, or why none can be built."""

    reason: str = ""
    request: Mapping[str, JSON] = field(default_factory=dict)
    instances: tuple[str, ...] = ()
    findings: tuple[TrackedFinding, ...] = ()
    deferred: tuple[TrackedFinding, ...] = ()  # terminate-one: the next cycles' instances
    # findings on instances the group no longer lists (detached, or the snapshot raced)
    unmatched: tuple[TrackedFinding, ...] = ()
    held_reason: str | None = None


def _summary(findings: Sequence[TrackedFinding], k: int) -> str:
    rules = ", ".join(sorted({f.finding.rule_id for f in findings}))
    return f"{len(findings)} finding(s) ({rules}) open for at least {k} consecutive cycles"


def _by_instance(
    members: Sequence[TrackedFinding], member_ids: set[str]
) -> tuple[dict[str, list[TrackedFinding]], list[TrackedFinding], list[TrackedFinding]]:
    """Split a group's findings: per member instance, group-level, and non-members."""
    per_instance: dict[str, list[TrackedFinding]] = {}
    group_level: list[TrackedFinding] = []
    strangers: list[TrackedFinding] = []
    for f in members:
        ref = f.finding.resource
        if ref.kind == Kind.EC2_INSTANCE:
            if ref.id in member_ids:
                per_instance.setdefault(ref.id, []).append(f)
            else:
                strangers.append(f)
        else:
            group_level.append(f)
    return per_instance, group_level, strangers


def _launch_time(view: SnapshotView, asg: Resource, instance_id: str) -> str:
    inst = view.find(Kind.EC2_INSTANCE, asg.account, asg.region, instance_id)
    value = inst.attributes.get("LaunchTime") if inst is not None else None
    return value if isinstance(value, str) else "~"  # unknown launch time sorts last


def _stale_member(asg: Resource, member: Mapping[str, JSON]) -> bool:
    resolved = asg.attributes.get("ResolvedLaunchTemplateVersion")
    lt = member.get("LaunchTemplate")
    version = lt.get("Version") if isinstance(lt, Mapping) else None
    return isinstance(resolved, str) and isinstance(version, str) and version != resolved


def _refresh(asg: Resource, members: Sequence[TrackedFinding], config: RemediationConfig) -> Built:
    group_members = {str(m.get("InstanceId")): m for m in guards.asg_members(asg)}
    per_instance, group_level, unmatched = _by_instance(members, set(group_members))
    if not per_instance and not group_level:
        return Built(held_reason="the violating instances are no longer members of the group")
    instances = tuple(sorted(group_members if group_level else per_instance))
    # SkipMatching would skip instances that already match the template: right for stale
    # members, wrong for age, phoenix and in-place drift (those match and must be replaced)
    skip = (
        not group_level
        and "LaunchConfigurationName" not in asg.attributes
        and all(_stale_member(asg, group_members[i]) for i in per_instance)
    )
    mhp = guards.min_healthy_percentage(config.min_healthy_percentage, config.max_percent_per_group)
    request: dict[str, JSON] = {
        "AutoScalingGroupName": asg.id,
        "Strategy": "Rolling",
        "Preferences": {
            "MinHealthyPercentage": mhp,
            "InstanceWarmup": config.instance_warmup_seconds,
            "SkipMatching": skip,
        },
    }
    covered = [f for fs in per_instance.values() for f in fs] + group_level
    reason = (
        f"{_summary(covered, config.min_consecutive_cycles)}: instance refresh of {asg.id} "
        f"replacing {', '.join(instances)}; at most {config.max_percent_per_group:g}% at once "
        f"(MinHealthyPercentage {mhp}), warmup {config.instance_warmup_seconds}s, "
        f"SkipMatching {skip}"
    )
    return Built(
        reason=reason,
        request=request,
        instances=instances,
        findings=tuple(covered),
        unmatched=tuple(unmatched),
    )


def _terminate_one(
    asg: Resource, members: Sequence[TrackedFinding], view: SnapshotView, config: RemediationConfig
) -> Built:
    member_ids = {str(m.get("InstanceId")) for m in guards.asg_members(asg)}
    per_instance, group_level, unmatched = _by_instance(members, member_ids)
    if per_instance:
        order = sorted(
            per_instance,
            key=lambda i: (
                -max(f.finding.severity.rank for f in per_instance[i]),
                _launch_time(view, asg, i),
                i,
            ),
        )
    elif group_level:
        order = sorted(member_ids, key=lambda i: (_launch_time(view, asg, i), i))
    else:
        return Built(held_reason="the violating instances are no longer members of the group")
    if not order:
        return Built(held_reason="the group has no instance to replace")
    chosen = order[0]
    covered = tuple(per_instance.get(chosen, [])) + tuple(group_level)
    deferred = tuple(f for i in order[1:] for f in per_instance.get(i, []))
    reason = (
        f"{_summary(covered, config.min_consecutive_cycles)}: terminate {chosen} in {asg.id} "
        "without decrementing the desired capacity, so the group launches a fresh replacement"
    )
    request: dict[str, JSON] = {"InstanceId": chosen, "ShouldDecrementDesiredCapacity": False}
    return Built(
        reason=reason,
        request=request,
        instances=(chosen,),
        findings=covered,
        deferred=deferred,
        unmatched=tuple(unmatched),
    )


def build_request(
    target: Target,
    members: Sequence[TrackedFinding],
    view: SnapshotView,
    config: RemediationConfig,
    record_key: str,
) -> Built:
    """The remediation request (API call and its parameters) for a target, or why there is none."""
    group = target.group
    attrs = group.attributes
    k = config.min_consecutive_cycles
    if target.action == START_INSTANCE_REFRESH:
        return _refresh(group, members, config)
    if target.action == TERMINATE_INSTANCE:
        return _terminate_one(group, members, view, config)
    if target.action == FORCE_NEW_DEPLOYMENT:
        cluster = attrs.get("clusterArn")
        name = attrs.get("serviceName")
        reason = (
            f"{_summary(members, k)}: force a new deployment of {group.id}; ECS replaces every "
            "task from its task definition and resolves image tags again"
        )
        return Built(
            reason=reason,
            request={"cluster": cluster, "service": name, "forceNewDeployment": True},
            findings=tuple(members),
        )
    if target.action == UPDATE_NODEGROUP_VERSION:
        force = config.force_nodegroup_update
        reason = (
            f"{_summary(members, k)}: update node group {group.id} to the latest AMI release; "
            + (
                "force: pods are evicted even if a PodDisruptionBudget blocks it"
                if force
                else "nodes drain respecting PodDisruptionBudgets"
            )
        )
        return Built(
            reason=reason,
            request={
                "clusterName": attrs.get("clusterName"),
                "nodegroupName": attrs.get("nodegroupName"),
                "force": force,
                "clientRequestToken": sha256_hex(record_key)[:32],
            },
            findings=tuple(members),
        )
    return Built(held_reason=f"no replacement action for {group.kind.value}")

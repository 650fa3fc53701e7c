"""The safety checks of one group: maintenance windows, work in progress, capacity.

Each check returns the reason to hold (a sentence a human reads in the report), or None.
All are pure: the time is passed in, history comes from the store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from auditor.model import JSON, ActionRecord, ActionStatus, Kind, Resource, iso
from auditor.remediate.actions import NO_REMEDIATE_TAG, START_INSTANCE_REFRESH, TERMINATE_INSTANCE

# how long an Auto Scaling replacement recorded in history counts as possibly running
IN_PROGRESS_WINDOW = timedelta(hours=1)
_REFRESH_RUNNING = {
    "Pending",
    "InProgress",
    "Cancelling",
    "RollbackInProgress",
    "Baking",
}


def no_remediate_tag(resource: Resource) -> str | None:
    """The tag wins whatever its value: a tag an operator set must never be second-guessed."""
    if NO_REMEDIATE_TAG in resource.tags:
        return f"tag {NO_REMEDIATE_TAG} on {resource.arn}"
    return None


def outside_windows(
    windows: Sequence[str], window_minutes: int, timezone: str, now: datetime
) -> str | None:
    """Hold unless `now` is within `window_minutes` after a start of one cron window."""
    if not windows:
        return None
    from croniter import croniter  # only configured windows need it (start-up, issue 15)

    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"remediation.timezone {timezone!r} is not a known time zone: nothing runs"
    local = now.astimezone(tz)
    length = timedelta(minutes=window_minutes)
    for expr in windows:
        if not croniter.is_valid(expr):
            return f"maintenance window {expr!r} is not a valid cron expression: nothing runs"
        start: datetime = croniter(expr, local + timedelta(seconds=1)).get_prev(datetime)
        if timedelta(0) <= now - start < length:
            return None
    return (
        f"outside the maintenance windows ({', '.join(windows)}, {window_minutes} min, "
        f"{timezone}) at {iso(now)}"
    )


def _mapping(value: JSON) -> Mapping[str, JSON]:
    return value if isinstance(value, Mapping) else {}


def _list(value: JSON) -> list[JSON]:
    return value if isinstance(value, list) else []


def asg_members(asg: Resource) -> list[Mapping[str, JSON]]:
    """The instances an Auto Scaling group lists as its members."""
    return [_mapping(i) for i in _list(asg.attributes.get("Instances"))]


def _asg_busy(asg: Resource, history: Sequence[ActionRecord], now: datetime) -> str | None:
    attrs = asg.attributes
    status = attrs.get("Status")
    if status:
        return f"group status is {status!r}"
    for refresh in _list(attrs.get("InstanceRefreshes")):
        state = _mapping(refresh).get("Status")
        if state in _REFRESH_RUNNING:
            return f"an instance refresh is {state}"
    members = asg_members(asg)
    unsettled = sorted(
        f"{m.get('InstanceId')} {m.get('LifecycleState')}/{m.get('HealthStatus')}"
        for m in members
        if m.get("LifecycleState") != "InService" or m.get("HealthStatus") != "Healthy"
    )
    if unsettled:
        return (
            "a replacement or scaling is in progress: not every instance is InService and "
            f"Healthy ({', '.join(unsettled)})"
        )
    desired = attrs.get("DesiredCapacity")
    if isinstance(desired, int) and len(members) < desired:
        return f"a replacement is in progress: {len(members)} of {desired} desired instances"
    present = {m.get("InstanceId") for m in members}
    for record in history:
        if (
            record.target_arn != asg.arn
            or record.status is not ActionStatus.EXECUTED
            or record.action not in (START_INSTANCE_REFRESH, TERMINATE_INSTANCE)
            or now - record.at >= IN_PROGRESS_WINDOW
        ):
            continue
        covered = _list(_mapping(record.response).get("instances"))
        remaining = sorted(str(i) for i in covered if i in present)
        if remaining or not covered:
            what = ", ".join(remaining) if remaining else "unknown instances"
            return (
                f"{record.action} started at {iso(record.at)} (request {record.request_id}) "
                f"has not finished: {what} still in the group"
            )
    return None


def _ecs_busy(service: Resource) -> str | None:
    deployments = [_mapping(d) for d in _list(service.attributes.get("deployments"))]
    if not deployments:
        return "the service shows no deployment: its state could not be seen"
    for d in deployments:
        if d.get("rolloutState") == "FAILED":
            return f"the deployment circuit breaker tripped (deployment {d.get('id')} FAILED)"
    if len(deployments) > 1:
        return f"a deployment is in progress ({len(deployments)} deployments)"
    for d in deployments:
        if d.get("rolloutState") == "IN_PROGRESS":
            return f"a deployment is in progress (deployment {d.get('id')} IN_PROGRESS)"
    return None


def _eks_busy(nodegroup: Resource) -> str | None:
    status = nodegroup.attributes.get("status")
    if status == "ACTIVE":
        return None
    if status == "UPDATING":
        return "node group status is UPDATING: an update is in progress"
    return f"node group status is {status!r}, not ACTIVE"


def busy(group: Resource, history: Sequence[ActionRecord], now: datetime) -> str | None:
    """Why the group must not be touched now: something already changes it, or it is broken."""
    if group.kind is Kind.ASG:
        return _asg_busy(group, history, now)
    if group.kind is Kind.ECS_SERVICE:
        return _ecs_busy(group)
    if group.kind is Kind.EKS_NODEGROUP:
        return _eks_busy(group)
    return f"no replacement mechanism for a {group.kind.value}"


def capacity(group: Resource) -> int:
    """The desired size of a group (Auto Scaling group, ECS service or node group)."""
    attrs = group.attributes
    value: JSON = None
    if group.kind is Kind.ASG:
        value = attrs.get("DesiredCapacity")
    elif group.kind is Kind.ECS_SERVICE:
        value = attrs.get("desiredCount")
    elif group.kind is Kind.EKS_NODEGROUP:
        value = _mapping(attrs.get("scalingConfig")).get("desiredSize")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def batch_size(capacity_: int, percent: float) -> int:
    """How many members may be replaced at once: P% of capacity, rounded DOWN.

    Rounding down is the safe side: a group where P% is less than one member is never
    touched, rather than losing more than P% of its capacity.
    """
    return math.floor(Fraction(capacity_) * Fraction(str(percent)) / 100)


def min_healthy_percentage(configured: int, percent: float) -> int:
    """The refresh preference that keeps at most `percent` of the group out at once."""
    return max(configured, math.ceil(100 - Fraction(str(percent))))


def capacity_hold(group: Resource, percent: float, terminate_one: bool) -> str | None:
    """Why `max_percent_per_group` forbids replacing members of the group now, or None."""
    cap = capacity(group)
    batch = batch_size(cap, percent)
    if batch < 1:
        return (
            f"max_percent_per_group {percent:g}% of capacity {cap} is less than one member "
            "(rounded down): nothing may be replaced at once"
        )
    if terminate_one and group.kind is Kind.ASG:
        healthy = len(asg_members(group))
        min_size = group.attributes.get("MinSize")
        if not isinstance(min_size, int) or healthy - 1 < min_size:
            return (
                f"terminating one of {healthy} healthy instances would go below MinSize {min_size}"
            )
    return None

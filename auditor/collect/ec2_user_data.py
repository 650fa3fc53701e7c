"""Instance user data: read per instance only where it is not already known.

User data can only be modified while an instance is stopped, and starting it moves
LaunchTime. So, before making one DescribeInstanceAttribute call per instance:
- same boot, same user data: a value read in an earlier cycle for the same (InstanceId,
  LaunchTime) is reused, unless the instance is stopped or stopping now;
- an instance an Auto Scaling group or EKS node group launched from a launch template
  version (immutable; neither can override user data) and never restarted has that
  version's user data, which the launch-template collector reads once per version;
- instances one RunInstances call launched (one reservation without RequesterId) all got
  that call's one UserData: of those never restarted, one is read for all.
"Never restarted" is LaunchTime within LAUNCH_ATTACH_SLACK of the root volume's AttachTime:
the root volume stays attached across a stop and start, which moves LaunchTime. Everything
else is read per instance. See docs/resources.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from auditor.collect.base import AWS_ERRORS, UnitContext, each_concurrently, gap
from auditor.model import JSON, CollectionGap, Kind, Service
from auditor.secrets import redacted_text

# States in which user data may have been changed since it was last read.
_MUTABLE_STATES = frozenset({"stopped", "stopping"})
# Launch and root-volume attachment are seconds apart; a stop and start takes far longer.
LAUNCH_ATTACH_SLACK = timedelta(seconds=30)

# (launch template id, version number) -> that version's (redacted) user data, or None
TemplateUserData = Callable[[str, str], JSON | None]


@dataclass(frozen=True, slots=True)
class UserData:
    value: JSON | None  # None: could not be read
    gap: CollectionGap | None = None


def _arn(ctx: UnitContext, instance_id: str) -> str:
    return f"arn:aws:ec2:{ctx.region}:{ctx.account}:instance/{instance_id}"


def _read(ctx: UnitContext, ec2: Any, instance_id: str) -> UserData:
    try:
        resp = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    except AWS_ERRORS as exc:
        failed = gap(
            ctx,
            Service.EC2,
            (Kind.EC2_INSTANCE,),
            "ec2:DescribeInstanceAttribute",
            exc,
            resource_arn=_arn(ctx, instance_id),
        )
        return UserData(None, failed)
    return UserData(redacted_text(resp.get("UserData", {}).get("Value")))


def _read_all(ctx: UnitContext, ec2: Any, ids: Sequence[str]) -> dict[str, UserData]:
    return dict(zip(ids, each_concurrently(partial(_read, ctx, ec2), ids), strict=True))


def _cached(ctx: UnitContext, attrs: Mapping[str, JSON]) -> JSON | None:
    state = attrs["State"]
    if isinstance(state, dict) and state.get("Name") in _MUTABLE_STATES:
        return None
    return ctx.previous.user_data.get((str(attrs["InstanceId"]), str(attrs.get("LaunchTime"))))


def _timestamp(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def never_restarted(attrs: Mapping[str, JSON]) -> bool:
    """Running (or pending) and LaunchTime is the launch: the root volume was attached then."""
    state = attrs.get("State")
    if not isinstance(state, dict) or state.get("Name") not in ("pending", "running"):
        return False
    launched = _timestamp(attrs.get("LaunchTime"))
    attached = None
    for mapping in attrs.get("BlockDeviceMappings") or []:
        if isinstance(mapping, dict) and isinstance(mapping.get("Ebs"), dict):
            found = _timestamp(mapping["Ebs"].get("AttachTime"))
            if found is not None and (attached is None or found < attached):
                attached = found
    if launched is None or attached is None:
        return False
    return abs(launched - attached) <= LAUNCH_ATTACH_SLACK


def _from_template(attrs: Mapping[str, JSON], template_user_data: TemplateUserData) -> JSON:
    """The user data of the template version a group launched this instance from, when that
    is provably its user data; None otherwise."""
    if "AutoScalingGroupName" not in attrs and "EksNodegroupName" not in attrs:
        return None
    template = attrs.get("LaunchTemplate")
    if not isinstance(template, dict):
        return None
    version = str(template.get("Version", ""))
    if not version.isdigit() or not never_restarted(attrs):
        return None
    return template_user_data(str(template["LaunchTemplateId"]), version)


def resolve_user_data(
    ctx: UnitContext,
    ec2: Any,
    instances: Sequence[Mapping[str, JSON]],
    run_together: Mapping[str, str],
    template_user_data: TemplateUserData | None = None,
) -> dict[str, UserData]:
    """Instance id -> its redacted user data (or why it could not be read)."""
    out: dict[str, UserData] = {}
    alone: list[str] = []
    siblings: dict[str, list[str]] = {}  # reservation -> never-restarted instances, in order
    for attrs in instances:
        instance_id = str(attrs["InstanceId"])
        known = _cached(ctx, attrs)
        if known is None and template_user_data is not None:
            known = _from_template(attrs, template_user_data)
        if known is not None:
            out[instance_id] = UserData(known)
        elif instance_id in run_together and never_restarted(attrs):
            siblings.setdefault(run_together[instance_id], []).append(instance_id)
        else:
            alone.append(instance_id)
    first = _read_all(ctx, ec2, [*alone, *(ids[0] for ids in siblings.values())])
    out.update(first)
    again: list[str] = []
    for ids in siblings.values():
        read = first[ids[0]]
        if read.value is None:
            again.extend(ids[1:])  # the representative failed: each is read on its own
        else:
            out.update(dict.fromkeys(ids[1:], read))
    out.update(_read_all(ctx, ec2, again))
    return out

"""Checks of rules `ec2.*`: instances, their AMIs and their user data."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from auditor.checks.amis import image_age
from auditor.checks.result import (
    PASS,
    CheckResult,
    age_days,
    fail,
    older_than,
    parse_time,
    unknown,
    unreadable,
)
from auditor.checks.secret_hits import Allowlist, secret_hits
from auditor.checks.spec import CheckSpec
from auditor.model import Clock, Kind, Resource, SnapshotView


def ec2_ami_age(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (blocked := unreadable(resource, "ImageId")) is not None:
        return blocked
    image_id = resource.attributes.get("ImageId")
    if not isinstance(image_id, str):
        return unknown("the instance has no ImageId")
    return image_age(
        view, resource.account, resource.region, image_id, clock, params["days"], "its"
    )


def ec2_ami_deprecated_or_gone(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (blocked := unreadable(resource, "ImageId")) is not None:
        return blocked
    image_id = resource.attributes.get("ImageId")
    if not isinstance(image_id, str):
        return unknown("the instance has no ImageId")
    image = view.find(Kind.EC2_IMAGE, resource.account, resource.region, image_id)
    if image is None:
        gap = view.gap_for(Kind.EC2_IMAGE, resource.account, resource.region)
        if gap is not None:
            return unknown(
                f"AMI {image_id} could not be described ({gap.error_code})",
                {"ImageId": image_id, "gap": gap.to_json()},
            )
        return fail(
            f"AMI {image_id} is gone: deregistered or no longer shared, so it cannot be rebuilt",
            {"ImageId": image_id},
        )
    attrs = image.attributes
    state = attrs.get("State")
    if state != "available":
        return fail(f"AMI {image_id} is {state}", {"ImageId": image_id, "State": state})
    deprecated_text = attrs.get("DeprecationTime")
    deprecated = parse_time(deprecated_text)
    if deprecated is not None and deprecated <= clock.now():
        return fail(
            f"AMI {image_id} was deprecated on {deprecated_text}",
            {"ImageId": image_id, "DeprecationTime": deprecated_text},
        )
    return PASS


_TRANSITION_DATE = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) GMT\)")


def ec2_stopped_too_long(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (blocked := unreadable(resource, "State", "StateTransitionReason")) is not None:
        return blocked
    state = resource.attributes.get("State")
    if not isinstance(state, dict | Mapping) or state.get("Name") != "stopped":
        return PASS
    reason = resource.attributes.get("StateTransitionReason")
    match = _TRANSITION_DATE.search(reason) if isinstance(reason, str) else None
    if match is None:
        return fail(
            "the instance is stopped since an unknown date (StateTransitionReason has none)",
            {"StateTransitionReason": reason},
        )
    since = parse_time(match.group(1).replace(" ", "T") + "+00:00")
    if since is None:
        return fail(
            "the instance is stopped since an unreadable date", {"StateTransitionReason": reason}
        )
    now = clock.now()
    if not older_than(since, now, params["days"]):
        return PASS
    return fail(
        f"the instance has been stopped for {age_days(since, now)} days",
        {"stopped_since": match.group(1) + " GMT", "max_days": params["days"]},
    )


def ec2_userdata_secrets(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (blocked := unreadable(resource, "UserData")) is not None:
        return blocked
    hits = secret_hits(resource.attributes.get("UserData"), "user data ", Allowlist(params, clock))
    if hits is None:
        return unknown("user data was not collected", {"unavailable": ["UserData"]})
    if not hits:
        return PASS
    return fail(f"user data contains {len(hits)} secret(s)", {"secrets": hits})


CHECKS: Mapping[str, CheckSpec] = {
    "ec2_ami_age": CheckSpec(ec2_ami_age),
    "ec2_ami_deprecated_or_gone": CheckSpec(ec2_ami_deprecated_or_gone),
    "ec2_stopped_too_long": CheckSpec(ec2_stopped_too_long),
    "ec2_userdata_secrets": CheckSpec(ec2_userdata_secrets, finds_secrets=True),
}

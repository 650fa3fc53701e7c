"""The AMI an instance, group or node launches from: found in the snapshot, and its age.

Shared by the ec2, asg and eks checks; no check of its own.
"""

from __future__ import annotations

from auditor.checks.result import (
    PASS,
    CheckResult,
    age_days,
    fail,
    parse_time,
    text_older_than,
    unknown,
)
from auditor.model import Clock, Kind, Resource, SnapshotView


def find_image(
    view: SnapshotView, account: str, region: str, image_id: str
) -> Resource | CheckResult:
    image = view.find(Kind.EC2_IMAGE, account, region, image_id)
    if image is not None:
        return image
    gap = view.gap_for(Kind.EC2_IMAGE, account, region)
    if gap is not None:
        return unknown(
            f"AMI {image_id} could not be described ({gap.error_code})",
            {"ImageId": image_id, "gap": gap.to_json()},
        )
    return unknown(
        f"AMI {image_id} is not visible (deregistered or not shared): its age cannot be judged",
        {"ImageId": image_id},
    )


def image_age(
    view: SnapshotView,
    account: str,
    region: str,
    image_id: str,
    clock: Clock,
    days: float,
    what: str,
) -> CheckResult:
    """Fail when the AMI was created more than `days` ago; unknown when it cannot be seen."""
    found = find_image(view, account, region, image_id)
    if isinstance(found, CheckResult):
        return found
    created_text = found.attributes.get("CreationDate")
    now = clock.now()
    old = text_older_than(created_text, now, days)
    if old is None:
        return unknown(f"AMI {image_id} has no readable CreationDate", {"ImageId": image_id})
    if not old:
        return PASS
    created = parse_time(created_text)
    age = age_days(created, now) if created else None
    return fail(
        f"{what} AMI {image_id} is {age} days old (max {days:g})",
        {"ImageId": image_id, "CreationDate": created_text, "age_days": age, "max_days": days},
    )

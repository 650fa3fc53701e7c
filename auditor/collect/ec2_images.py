"""AMIs in use (ec2.image): one batched DescribeImages per region, not one per instance."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from auditor.collect.base import AWS_ERRORS, CollectResult, UnitContext, chunks, gap, pick, tag_map
from auditor.collect.ec2_batch import describe_ids
from auditor.model import JSON, CollectionGap, Kind, Resource, Service, iso, parse_iso

IMAGE_BATCH = 1000  # ids per DescribeImages call
_OPTIONAL_FLAGS = ("IncludeDeprecated", "IncludeDisabled")


def image_arn(ctx: UnitContext, image_id: str) -> str:
    return f"arn:aws:ec2:{ctx.region}:{ctx.account}:image/{image_id}"


def _flags(ec2: Any) -> dict[str, bool]:
    """Ask for deprecated and disabled AMIs too, where this API version knows the flags."""
    members = ec2.meta.service_model.operation_model("DescribeImages").input_shape.members
    return {flag: True for flag in _OPTIONAL_FLAGS if flag in members}


def _timestamp(value: Any) -> JSON:
    """DescribeImages returns its dates as strings with milliseconds: normalize to ours."""
    return iso(parse_iso(value)) if isinstance(value, str) else value


def image_attributes(image: Mapping[str, Any]) -> dict[str, JSON]:
    attrs = pick(
        image,
        ("ImageId", "Name", "CreationDate", "DeprecationTime", "OwnerId", "State", "Public"),
    )
    for key in ("CreationDate", "DeprecationTime"):
        if key in attrs:
            attrs[key] = _timestamp(attrs[key])
    return attrs


def collect_images(ctx: UnitContext, ec2: Any, image_ids: Collection[str]) -> CollectResult:
    """The AMIs among `image_ids` that DescribeImages returns; the rest are simply absent."""
    if not image_ids:
        return CollectResult()
    flags = _flags(ec2)

    def describe(batch: list[str]) -> list[Any]:
        return list(ec2.describe_images(ImageIds=batch, **flags)["Images"])

    found: list[Mapping[str, Any]] = []
    gaps: list[CollectionGap] = []
    for batch in chunks(sorted(image_ids), IMAGE_BATCH):
        try:
            found.extend(describe_ids(describe, batch))
        except AWS_ERRORS as exc:
            gaps.append(gap(ctx, Service.EC2, (Kind.EC2_IMAGE,), "ec2:DescribeImages", exc))
    observed = ctx.clock.now()
    resources = tuple(
        Resource(
            kind=Kind.EC2_IMAGE,
            arn=image_arn(ctx, str(image["ImageId"])),
            id=str(image["ImageId"]),
            account=ctx.account,
            region=ctx.region,
            tags=tag_map(image.get("Tags")),
            attributes=image_attributes(image),
            observed_at=observed,
        )
        for image in found
    )
    return CollectResult(resources, tuple(gaps))

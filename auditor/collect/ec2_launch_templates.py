"""Launch templates in use (ec2.launch_template) and the versions in use.

Only templates something uses are read: the ones named by Auto Scaling groups (and their
instances) and by instance tags. One batched DescribeLaunchTemplates gives each template's
latest and default version numbers, which resolve `$Latest` / `$Default`; then one
DescribeLaunchTemplateVersions per template fetches every version in use at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.collect.base import (
    AWS_ERRORS,
    CollectResult,
    UnitContext,
    chunks,
    gap,
    jsonable,
    paginate,
    pick,
    tag_map,
)
from auditor.collect.ec2_batch import describe_every_id
from auditor.model import JSON, CollectionGap, Kind, Resource, Service
from auditor.secrets import redacted_text

TEMPLATE_BATCH = 200  # ids per DescribeLaunchTemplates call
VERSION_BATCH = 200  # versions per DescribeLaunchTemplateVersions call
LATEST = "$Latest"
DEFAULT = "$Default"

# A template whose versions are unknown also hides the AMIs and groups those versions use.
LISTING_KINDS = (Kind.EC2_LAUNCH_TEMPLATE, Kind.EC2_IMAGE, Kind.EC2_SECURITY_GROUP)


def template_arn(ctx: UnitContext, template_id: str) -> str:
    return f"arn:aws:ec2:{ctx.region}:{ctx.account}:launch-template/{template_id}"


@dataclass(frozen=True, slots=True)
class LaunchTemplateIndex:
    """What resolving a group's configured version needs, and which templates were unreadable."""

    latest: Mapping[str, int] = field(default_factory=dict)
    default: Mapping[str, int] = field(default_factory=dict)
    failures: Mapping[str, CollectionGap] = field(default_factory=dict)

    def resolve(self, template_id: str, version: str) -> str | None:
        """The version number a configured version string means now, or None if unknown."""
        if version == LATEST:
            number = self.latest.get(template_id)
        elif version == DEFAULT:
            number = self.default.get(template_id)
        else:
            return version if version.isdigit() else None
        return None if number is None else str(number)


@dataclass(frozen=True, slots=True)
class LaunchTemplates:
    result: CollectResult
    index: LaunchTemplateIndex
    image_ids: frozenset[str]  # AMIs the versions in use launch
    security_groups: Mapping[str, frozenset[str]]  # group id -> template ARNs using it
    # template ARNs, and "ARN version N", AWS answered do not exist (deleted, not missed)
    gone: frozenset[str] = frozenset()


def _version_data(data: Mapping[str, Any]) -> dict[str, JSON]:
    out = pick(data, ("ImageId", "InstanceType", "KeyName", "SecurityGroupIds"))
    if "MetadataOptions" in data:
        out["MetadataOptions"] = pick(
            data["MetadataOptions"], ("HttpTokens", "HttpEndpoint", "HttpPutResponseHopLimit")
        )
    out["UserData"] = redacted_text(data.get("UserData"))
    return out


def _version_groups(data: Mapping[str, Any]) -> set[str]:
    groups = set(data.get("SecurityGroupIds") or [])
    for nic in data.get("NetworkInterfaces") or []:
        groups.update(nic.get("Groups") or [])
    return groups


def _describe_templates(
    ctx: UnitContext, ec2: Any, ids: list[str], gone: set[str]
) -> tuple[list[Mapping[str, Any]], dict[str, CollectionGap]]:
    """The templates found, and the ids whose batch failed (with why); ids AWS says do
    not exist are added to `gone`."""

    def describe(batch: list[str]) -> list[Any]:
        return list(ec2.describe_launch_templates(LaunchTemplateIds=batch)["LaunchTemplates"])

    found: list[Mapping[str, Any]] = []
    failures: dict[str, CollectionGap] = {}
    for batch in chunks(ids, TEMPLATE_BATCH):
        try:
            # a response may leave templates out (a capped page): every id is read or a gap
            templates, missing = describe_every_id(
                describe, batch, lambda t: str(t["LaunchTemplateId"]), "DescribeLaunchTemplates"
            )
            found.extend(templates)
            gone.update(missing)
        except AWS_ERRORS as exc:
            failed = gap(ctx, Service.EC2, LISTING_KINDS, "ec2:DescribeLaunchTemplates", exc)
            failures.update(dict.fromkeys(batch, failed))
    return found, failures


def _describe_versions(
    ec2: Any, template_id: str, versions: list[str], gone: set[str]
) -> list[Mapping[str, Any]]:
    """Every version asked for; numbers AWS says do not exist are added to `gone`."""

    def describe(batch: list[str]) -> list[Any]:
        return list(
            paginate(
                ec2,
                "describe_launch_template_versions",
                "LaunchTemplateVersions",
                LaunchTemplateId=template_id,
                Versions=batch,
            )
        )

    found: list[Mapping[str, Any]] = []
    for batch in chunks(versions, VERSION_BATCH):
        items, missing = describe_every_id(
            describe,
            batch,
            lambda v: str(v["VersionNumber"]),
            "DescribeLaunchTemplateVersions",
        )
        found.extend(items)
        gone.update(missing)
    return found


def collect_launch_templates(
    ctx: UnitContext, ec2: Any, refs: Mapping[str, set[str]]
) -> LaunchTemplates:
    """The templates `refs` (template id -> version strings in use) name, with those versions."""
    gone_ids: set[str] = set()
    templates, failures = _describe_templates(ctx, ec2, sorted(refs), gone_ids)
    gone = {template_arn(ctx, i) for i in gone_ids}
    gaps = list(dict.fromkeys(failures.values()))
    index = LaunchTemplateIndex(
        latest={t["LaunchTemplateId"]: int(t["LatestVersionNumber"]) for t in templates},
        default={t["LaunchTemplateId"]: int(t["DefaultVersionNumber"]) for t in templates},
        failures=failures,
    )
    observed = ctx.clock.now()
    resources: list[Resource] = []
    image_ids: set[str] = set()
    security_groups: dict[str, set[str]] = {}
    for template in templates:
        template_id = str(template["LaunchTemplateId"])
        arn = template_arn(ctx, template_id)
        in_use = {index.resolve(template_id, v) for v in refs.get(template_id, ())}
        numbers = sorted({v for v in in_use if v is not None}, key=int)
        attrs = pick(
            template,
            (
                "LaunchTemplateId",
                "LaunchTemplateName",
                "DefaultVersionNumber",
                "LatestVersionNumber",
            ),
        )
        attrs["VersionsInUse"] = list(numbers)
        unavailable: tuple[str, ...] = ()
        try:
            gone_numbers: set[str] = set()
            versions = (
                _describe_versions(ec2, template_id, numbers, gone_numbers) if numbers else []
            )
            gone.update(f"{arn} version {n}" for n in gone_numbers)
        except AWS_ERRORS as exc:
            unavailable = ("Versions",)
            op = "ec2:DescribeLaunchTemplateVersions"
            gaps.append(gap(ctx, Service.EC2, (Kind.EC2_LAUNCH_TEMPLATE,), op, exc, arn))
            gaps.append(gap(ctx, Service.EC2, (Kind.EC2_IMAGE, Kind.EC2_SECURITY_GROUP), op, exc))
        else:
            by_number: dict[str, JSON] = {}
            for v in sorted(versions, key=lambda v: int(v["VersionNumber"])):
                data = v.get("LaunchTemplateData") or {}
                by_number[str(v["VersionNumber"])] = {
                    **pick(v, ("VersionNumber", "CreateTime")),
                    "LaunchTemplateData": _version_data(data),
                }
                image = data.get("ImageId")
                if isinstance(image, str) and image.startswith("ami-"):
                    image_ids.add(image)
                for group_id in _version_groups(data):
                    security_groups.setdefault(group_id, set()).add(arn)
            attrs["Versions"] = by_number
        resources.append(
            Resource(
                kind=Kind.EC2_LAUNCH_TEMPLATE,
                arn=arn,
                id=template_id,
                account=ctx.account,
                region=ctx.region,
                tags=tag_map(template.get("Tags")),
                attributes=jsonable(attrs),
                observed_at=observed,
                unavailable=unavailable,
            )
        )
    return LaunchTemplates(
        result=CollectResult(tuple(resources), tuple(gaps)),
        index=index,
        image_ids=frozenset(image_ids),
        security_groups={k: frozenset(v) for k, v in security_groups.items()},
        gone=frozenset(gone),
    )

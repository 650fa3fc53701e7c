"""Every resource a collector was pointed at is in the result or in a gap: checked, not hoped.

A group names a launch template and a version; a service names a task definition. After a
unit is collected, anything so named that is neither among its resources, nor hidden by
one of its gaps, nor confirmed gone by AWS (a NotFound answer) becomes a resource gap
(`NotCollected`): the report then says coverage is incomplete instead of a rule quietly
judging without it. (AMIs are not checked here: DescribeImages leaves out a deregistered
AMI without an error, so absent means gone; ec2.ami_deprecated_or_gone reports it.)
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from auditor.model import CollectionGap, Kind, Resource, Service

NOT_COLLECTED = "NotCollected"


def _named(resource: Resource) -> Iterator[tuple[Kind, str, str | None]]:
    """(kind, ARN, version) of what this resource names and its unit must collect."""
    attrs = resource.attributes
    if resource.kind is Kind.ASG:
        spec: Any = attrs.get("LaunchTemplate")
        if isinstance(spec, Mapping) and spec.get("LaunchTemplateId"):
            arn = (
                f"arn:aws:ec2:{resource.region}:{resource.account}:launch-template/"
                f"{spec['LaunchTemplateId']}"
            )
            number = attrs.get("ResolvedLaunchTemplateVersion")
            yield Kind.EC2_LAUNCH_TEMPLATE, arn, str(number) if number is not None else None
    elif resource.kind is Kind.ECS_SERVICE and attrs.get("taskDefinition"):
        yield Kind.ECS_TASK_DEFINITION, str(attrs["taskDefinition"]), None


Missing = tuple[Resource, Kind, str, str | None]  # naming resource, kind, ARN, version


def unaccounted(
    resources: Collection[Resource], gaps: Collection[CollectionGap], gone: Collection[str] = ()
) -> list[Missing]:
    """Every named resource (or named version of it) missing without an explanation.
    `gone`: ARNs, and "ARN version N", that AWS said do not exist."""
    by_arn = {r.arn: r for r in resources}
    out: list[Missing] = []
    for resource in resources:
        for kind, arn, version in _named(resource):
            hidden = any(g.hides(kind, resource.account, resource.region, arn) for g in gaps)
            if arn in gone or hidden:
                continue
            found = by_arn.get(arn)
            if found is None:
                out.append((resource, kind, arn, None))
            elif version is not None and f"{arn} version {version}" not in gone:
                versions = found.attributes.get("Versions")
                if not isinstance(versions, Mapping) or version not in versions:
                    out.append((resource, kind, arn, version))
    return out


def completeness_gaps(
    resources: Collection[Resource],
    gaps: Collection[CollectionGap],
    service: Service,
    gone: Collection[str] = (),
) -> tuple[CollectionGap, ...]:
    """A resource gap for each thing named and not collected (see the module docstring)."""
    out: dict[str, CollectionGap] = {}
    for named_by, kind, arn, version in unaccounted(resources, gaps, gone):
        what = arn if version is None else f"{arn} version {version}"
        out.setdefault(
            arn,
            CollectionGap(
                account=named_by.account,
                region=named_by.region,
                service=service,
                kinds=(kind,),
                operation=f"{service.value}:completeness",
                error_code=NOT_COLLECTED,
                message=f"{named_by.kind.value} {named_by.id} names {what}: not collected",
                resource_arn=arn,
            ),
        )
    return tuple(out.values())

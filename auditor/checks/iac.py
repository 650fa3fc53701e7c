"""Live state against what Terraform declares (and CloudFormation manages).

Fail closed: when a state could not be read (a CollectionGap on iac.resource) a live
resource no readable state declares is `unknown`, not unmanaged; a declared resource not
found live is `unknown` when its kind, account or region was not (fully) collected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.checks.declared import DeclaredIndex, declared_index
from auditor.checks.fields import compiled, missing_keys
from auditor.checks.iac_compare import compare_values, validate_compare
from auditor.checks.result import PASS, CheckResult, fail, unknown
from auditor.checks.spec import CheckSpec
from auditor.model import JSON, Clock, Kind, Resource, SnapshotView

_OWNER_TAGS = ("eks:cluster-name", "eks:nodegroup-name")


def _owner(resource: Resource) -> tuple[Kind, str] | None:
    """The group or cluster that created this resource, when it is judged through it."""
    attrs, tags = resource.attributes, resource.tags
    if resource.kind is Kind.EC2_INSTANCE:
        ng, cluster = attrs.get("EksNodegroupName"), attrs.get("EksClusterName")
        if isinstance(ng, str) and isinstance(cluster, str):
            return Kind.EKS_NODEGROUP, f"{cluster}/{ng}"
        if isinstance(attrs.get("AutoScalingGroupName"), str):
            return Kind.ASG, str(attrs["AutoScalingGroupName"])
    if all(t in tags for t in _OWNER_TAGS):
        return Kind.EKS_NODEGROUP, f"{tags['eks:cluster-name']}/{tags['eks:nodegroup-name']}"
    if resource.kind is Kind.EC2_SECURITY_GROUP and "aws:eks:cluster-name" in tags:
        return Kind.EKS_CLUSTER, tags["aws:eks:cluster-name"]
    return None


def _managed_by_tag(resource: Resource, managed_tags: list[str]) -> str | None:
    return next((t for t in managed_tags if t in resource.tags), None)


def _service_task_definitions(view: SnapshotView) -> frozenset[str]:
    """Task definitions used by a service that a state declares."""
    index = declared_index(view)
    used: set[str] = set()
    for service in view.of_kind(Kind.ECS_SERVICE):
        if index.lookup(service) is not None:
            used.add(str(service.attributes.get("taskDefinition")))
            used.update(
                str(d.get("taskDefinition")) for d in service.attributes.get("deployments") or []
            )
    return frozenset(used)


def _managed(resource: Resource, index: DeclaredIndex, view: SnapshotView, tags: list[str]) -> bool:
    if index.lookup(resource) is not None or _managed_by_tag(resource, tags):
        return True
    if resource.kind is Kind.ECS_TASK_DEFINITION:
        family = resource.attributes.get("family")
        if isinstance(family, str) and index.family_declared(
            resource.account, resource.region, family
        ):
            return True
        return resource.arn in view.memo("iac.service_tds", _service_task_definitions)
    return False


def iac_unmanaged(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    """A live resource that no Terraform state declares and no CloudFormation stack owns."""
    if (
        resource.kind is Kind.EC2_SECURITY_GROUP
        and resource.attributes.get("GroupName") == "default"
    ):
        return PASS  # created by AWS with every VPC
    tags: list[str] = params["managed_tags"]
    index = declared_index(view)
    if _managed(resource, index, view, tags):
        return PASS
    owner = _owner(resource)
    evidence: dict[str, JSON] = {}
    if owner is not None:
        kind, oid = owner
        parent = view.find(kind, resource.account, resource.region, oid)
        if index.lookup_id(kind, resource.account, resource.region, oid) is not None or (
            parent is not None and _managed(parent, index, view, tags)
        ):
            return PASS
        evidence["launched_by"] = {"kind": kind.value, "id": oid}
    if index.gaps:
        return unknown(
            "a Terraform state could not be read: cannot tell whether it declares this resource",
            {"gaps": [g.to_json() for g in index.gaps]},
        )
    if owner is not None:
        return fail(
            f"launched by {owner[0].value} {owner[1]}, which no Terraform state declares "
            "and no CloudFormation stack owns",
            evidence,
        )
    return fail("no Terraform state declares it and no CloudFormation stack owns it", evidence)


def _live_index(view: SnapshotView) -> dict[tuple[str, str], list[Resource]]:
    out: dict[tuple[str, str], list[Resource]] = {}
    for r in view.snapshot.resources:
        if r.kind is not Kind.IAC_RESOURCE:
            out.setdefault((r.kind.value, r.id), []).append(r)
    return out


def live_resource(declared: Resource, view: SnapshotView) -> Resource | None:
    """The live resource a declared one stands for: by ARN, else by id where it lives."""
    attrs = declared.attributes
    target = str(attrs.get("TargetKind"))
    arn = attrs.get("Arn")
    if isinstance(arn, str):
        found = view.get(arn)
        if found is not None and found.kind.value == target:
            return found
    rid = str(attrs.get("Id"))
    for r in view.memo("iac.live_by_id", _live_index).get((target, rid), []):
        if declared.account in ("*", r.account) and declared.region in ("*", r.region):
            return r
    return None


def _not_seen(
    declared: Resource, target: Kind, view: SnapshotView, partial: list[str]
) -> str | None:
    """Why absence proves nothing here, or None when the resource should have been seen."""
    scope = view.snapshot.scope
    account, region = declared.account, declared.region
    if target.service not in scope.services:
        return f"{target.service.value} is not collected (services: in the config)"
    if account != "*" and account not in scope.accounts:
        return f"account {account} is outside the audited scope"
    if region != "*" and region not in scope.regions:
        return f"region {region} is outside the audited scope"
    for gap in view.snapshot.gaps:
        if (
            gap.resource_arn is None
            and target in gap.kinds
            and (account == "*" or gap.account in (account, "*"))
            and (region == "*" or gap.region in (region, "*"))
        ):
            return f"{target.value} could not be collected in {gap.account}/{gap.region}"
    if target.value in partial:
        return f"{target.value} is collected only while in use: absence does not prove it is gone"
    return None


def iac_missing(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    """Declared in a Terraform state, not found live."""
    attrs = resource.attributes
    target = Kind(str(attrs.get("TargetKind")))
    if live_resource(resource, view) is not None:
        return PASS
    evidence: dict[str, JSON] = {
        "address": attrs.get("Address"),
        "source": attrs.get("Source"),
        "type": attrs.get("Type"),
        "id": attrs.get("Id"),
    }
    why = _not_seen(resource, target, view, params["partial_kinds"])
    if why is not None:
        return unknown(f"not found live, but {why}", evidence)
    return fail(
        f"declared as {attrs.get('Address')} in {attrs.get('Source')}, not found live", evidence
    )


def iac_changed(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    """A declared attribute (of those `compare` names) differs from the live value."""
    attrs = resource.attributes
    tf_type = str(attrs.get("Type"))
    spec: Mapping[str, str] = (params["compare"] or {}).get(tf_type) or {}
    declared: Mapping[str, Any] = attrs.get("Declared") or {}
    wanted = [p for p in spec if p in declared]
    if not wanted:
        return PASS
    live = live_resource(resource, view)
    if live is None:
        return unknown("no live resource to compare with (iac.missing reports it)")
    missing = missing_keys(live.unavailable, [spec[p] for p in wanted])
    if missing:
        return unknown(f"attribute {', '.join(missing)} could not be read this cycle")
    norms: Mapping[str, str] = (params.get("normalize") or {}).get(tf_type) or {}
    diffs: list[dict[str, JSON]] = []
    for tf_path in wanted:
        live_path = spec[tf_path]
        left, right = compare_values(
            norms.get(tf_path),
            declared[tf_path],
            compiled(live_path).search(live.attributes),
            live.id,
        )
        if left != right:
            diffs.append(
                {"attribute": tf_path, "declared": left, "live": right, "live_field": live_path}
            )
    if not diffs:
        return PASS
    names = ", ".join(str(d["attribute"]) for d in diffs)
    return fail(
        f"live {live.kind.value} {live.id} differs from {attrs.get('Address')}: {names}",
        {
            "live_arn": live.arn,
            "address": attrs.get("Address"),
            "source": attrs.get("Source"),
            "differences": diffs,
        },
    )


CHECKS: Mapping[str, CheckSpec] = {
    "iac_changed": CheckSpec(iac_changed, validate_params=validate_compare),
    "iac_missing": CheckSpec(iac_missing),
    "iac_unmanaged": CheckSpec(iac_unmanaged),
}

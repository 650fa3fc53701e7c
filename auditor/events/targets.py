"""Re-describe only the resources events name, with the collectors' own normalization.

What a full collection derives from the whole estate (the launch template versions in use,
the compute a security group is attached to, the revisions in use) is taken from the
latest snapshot, so a re-collected resource has the same shape a full cycle would give it.
Dependents are re-collected with what they depend on when their attributes move with it
(a launch template -> the groups that launch it: their resolved version).

The result's `scope` is exactly what is known afresh: the ARNs re-collected, and the ARNs
of named resources confirmed gone. A target that could not be re-described (an error)
is `failed`: its event stays on the queue and the full schedule reconciles it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from auditor.aws import AwsSessions, Target
from auditor.collect.autoscaling import group_resources, template_refs
from auditor.collect.base import (
    AWS_ERRORS,
    Collector,
    CollectResult,
    ImageLookup,
    PreviousState,
    UnitContext,
    UnitState,
)
from auditor.collect.ec2_instances import collect_instances
from auditor.collect.ec2_launch_templates import collect_launch_templates
from auditor.collect.ec2_security_groups import collect_security_groups
from auditor.collect.ecs import describe_services, describe_tasks, image_refs
from auditor.collect.ecs_task_definitions import collect_task_definitions
from auditor.collect.runner import collectors, image_options, kinds_of
from auditor.events.parse import EventTarget
from auditor.model import (
    KIND_SERVICE,
    Clock,
    CollectionGap,
    Kind,
    Resource,
    Service,
    SnapshotView,
)
from auditor.settings import Settings

ASG_BATCH = 50  # names per DescribeAutoScalingGroups call


@dataclass(frozen=True, slots=True)
class Recollected:
    resources: tuple[Resource, ...] = ()
    scope: frozenset[str] = frozenset()  # ARNs now known afresh (re-collected or gone)
    # (kind, account, region) re-collected whole (EKS, ECR: a unit is cheap)
    units: frozenset[tuple[Kind, str, str]] = frozenset()
    failed: tuple[EventTarget, ...] = ()
    gaps: tuple[CollectionGap, ...] = ()

    def covers(self, kind: Kind | str, account: str, region: str, arn: str) -> bool:
        return arn in self.scope or (kind, account, region) in self.units


@dataclass
class _Cell:
    """What one (account, region) re-collection found."""

    resources: list[Resource] = field(default_factory=list)
    scope: set[str] = field(default_factory=set)
    units: set[tuple[Kind, str, str]] = field(default_factory=set)
    failed: list[EventTarget] = field(default_factory=list)
    gaps: list[CollectionGap] = field(default_factory=list)

    def take(self, result: CollectResult, targets: Iterable[EventTarget]) -> bool:
        """Keep the result; False (and the targets failed) when a gap hides a target's kind."""
        self.gaps.extend(result.gaps)
        whole = [g for g in result.gaps if g.resource_arn is None]
        named = list(targets)
        hidden = [t for t in named if any(t.kind in g.kinds for g in whole)]
        if hidden:
            self.failed.extend(hidden)
            return False
        self.resources.extend(result.resources)
        self.scope.update(r.arn for r in result.resources)
        return True

    def gone(self, view: SnapshotView, target: EventTarget) -> None:
        """A named resource that no longer exists: its previous ARN is known afresh."""
        before = view.find(target.kind, target.account, target.region, target.id)
        if before is not None:
            self.scope.add(before.arn)
        elif target.arn:
            self.scope.add(target.arn)


def role_for(settings: Settings, account: str, caller: str | None) -> str | None:
    for a in settings.accounts:
        if a.id == account:
            return a.role_arn
    org = settings.organization
    if org is not None and account != caller:
        return f"arn:aws:iam::{account}:role/{org.role_name}"
    return None


def recollect(
    targets: Iterable[EventTarget],
    view: SnapshotView,
    settings: Settings,
    sessions: AwsSessions,
    clock: Clock,
    caller: str | None = None,
    image_lookup: ImageLookup | None = None,
) -> Recollected:
    """Re-describe the targets (in the latest snapshot's scope only) and their dependents."""
    scope = view.snapshot.scope
    by_cell: dict[tuple[str, str], list[EventTarget]] = {}
    for t in dict.fromkeys(targets):
        service = KIND_SERVICE[t.kind]
        if t.account in scope.accounts and t.region in scope.regions and service in scope.services:
            by_cell.setdefault((t.account, t.region), []).append(t)
    previous = PreviousState.from_snapshot(view.snapshot, image_lookup)
    registry = collectors(image_options(settings))
    cells: list[_Cell] = []
    for (account, region), named in sorted(by_cell.items()):
        target = Target(account, role_for(settings, account, caller))

        def client(name: str, target: Target = target, region: str = region) -> object:
            return sessions.client(target, name, region)

        ctx = UnitContext(account, region, client, clock, previous, record=sessions.counter.record)
        cell = _Cell()
        try:
            _collect_cell(ctx, named, view, cell, registry)
        except AWS_ERRORS:  # assume-role failed: nothing of this cell was seen
            cell = _Cell(failed=list(named))
        cells.append(cell)
    return Recollected(
        resources=tuple(r for c in cells for r in c.resources),
        scope=frozenset(a for c in cells for a in c.scope),
        units=frozenset(u for c in cells for u in c.units),
        failed=tuple(t for c in cells for t in c.failed),
        gaps=tuple(g for c in cells for g in c.gaps),
    )


def _collect_cell(
    ctx: UnitContext,
    named: list[EventTarget],
    view: SnapshotView,
    cell: _Cell,
    registry: Mapping[Service, Collector],
) -> None:
    of = _by_kind(named)
    _instances(ctx, of.get(Kind.EC2_INSTANCE, []), view, cell)
    _security_groups(ctx, of.get(Kind.EC2_SECURITY_GROUP, []), view, cell)
    _templates_and_groups(
        ctx, of.get(Kind.EC2_LAUNCH_TEMPLATE, []), of.get(Kind.ASG, []), view, cell
    )
    _ecs(
        ctx,
        of.get(Kind.ECS_SERVICE, []),
        of.get(Kind.ECS_TASK, []),
        of.get(Kind.ECS_TASK_DEFINITION, []),
        view,
        cell,
    )
    for service, kinds in ((Service.EKS, (Kind.EKS_NODEGROUP, Kind.EKS_CLUSTER)),
                           (Service.ECR, (Kind.ECR_REPOSITORY, Kind.ECR_IMAGE))):  # fmt: skip
        wanted = [t for k in kinds for t in of.get(k, [])]
        if wanted:
            _whole_unit(ctx, service, wanted, view, cell, registry)


def _by_kind(targets: Iterable[EventTarget]) -> dict[Kind, list[EventTarget]]:
    out: dict[Kind, list[EventTarget]] = {}
    for t in targets:
        out.setdefault(t.kind, []).append(t)
    return out


def _instances(ctx: UnitContext, named: list[EventTarget], view: SnapshotView, cell: _Cell) -> None:
    if not named:
        return
    result = collect_instances(ctx, ctx.client("ec2"), instance_ids=[t.id for t in named])
    if not cell.take(result, named):
        return
    found = {r.id for r in result.resources}
    for t in named:
        if t.id not in found:
            cell.gone(view, t)


def _attached(view: SnapshotView, t: EventTarget) -> list[str]:
    before = view.find(t.kind, t.account, t.region, t.id)
    if before is not None:
        return [str(a) for a in before.attributes.get("AttachedTo") or []]
    return sorted(
        i.arn
        for i in view.of_kind(Kind.EC2_INSTANCE)
        if (i.account, i.region) == (t.account, t.region)
        and any(
            isinstance(g, Mapping) and g.get("GroupId") == t.id
            for g in i.attributes.get("SecurityGroups") or []
        )
    )


def _security_groups(
    ctx: UnitContext, named: list[EventTarget], view: SnapshotView, cell: _Cell
) -> None:
    # only groups attached to compute are audited, as in a full collection
    attachments = {t.id: _attached(view, t) for t in named}
    attachments = {k: v for k, v in attachments.items() if v}
    if not attachments:
        return
    wanted = [t for t in named if t.id in attachments]
    result = collect_security_groups(ctx, ctx.client("ec2"), attachments)
    if not cell.take(result, wanted):
        return
    found = {r.id for r in result.resources}
    for t in wanted:
        if t.id not in found:
            cell.gone(view, t)


def _template_refs(view: SnapshotView, account: str, region: str) -> dict[str, set[str]]:
    """Launch template id -> version strings in use, as the latest snapshot knows them."""
    refs: dict[str, set[str]] = {}
    for kind in (Kind.EC2_INSTANCE, Kind.ASG):
        for r in view.of_kind(kind):
            if (r.account, r.region) != (account, region):
                continue
            spec = r.attributes.get("LaunchTemplate")
            if isinstance(spec, Mapping) and spec.get("LaunchTemplateId"):
                version = str(spec.get("Version") or "$Default")
                refs.setdefault(str(spec["LaunchTemplateId"]), set()).add(version)
            for inst in r.attributes.get("Instances") or [] if kind is Kind.ASG else []:
                lt = inst.get("LaunchTemplate") if isinstance(inst, Mapping) else None
                if isinstance(lt, Mapping) and lt.get("LaunchTemplateId"):
                    version = str(lt.get("Version") or "$Default")
                    refs.setdefault(str(lt["LaunchTemplateId"]), set()).add(version)
    return refs


def _groups_using(
    view: SnapshotView, account: str, region: str, template_ids: set[str]
) -> set[str]:
    out: set[str] = set()
    for g in view.of_kind(Kind.ASG):
        spec = g.attributes.get("LaunchTemplate")
        same_cell = (g.account, g.region) == (account, region)
        if same_cell and isinstance(spec, Mapping) and spec.get("LaunchTemplateId") in template_ids:
            out.add(g.id)
    return out


def _templates_and_groups(
    ctx: UnitContext,
    templates: list[EventTarget],
    groups: list[EventTarget],
    view: SnapshotView,
    cell: _Cell,
) -> None:
    if not templates and not groups:
        return
    refs = _template_refs(view, ctx.account, ctx.region)
    names = {t.id for t in groups} | _groups_using(
        view, ctx.account, ctx.region, {t.id for t in templates}
    )
    raw: list[Mapping[str, Any]] = []
    if names:
        unit = UnitState(ctx, Service.EC2)
        client = ctx.client("autoscaling")
        for batch in _chunks(sorted(names), ASG_BATCH):
            response = unit.call(
                "autoscaling:DescribeAutoScalingGroups",
                (Kind.ASG,),
                partial(client.describe_auto_scaling_groups, AutoScalingGroupNames=batch),
            )
            raw.extend((response or {}).get("AutoScalingGroups", []))
        if unit.gaps:
            cell.gaps.extend(unit.gaps)
            cell.failed.extend([*groups, *templates])
            return
    for group in raw:
        for template_id, version in template_refs(group):
            refs.setdefault(template_id, set()).add(version)
    wanted_ids = {t.id for t in templates} | {
        template_id for group in raw for template_id, _ in template_refs(group)
    }
    in_use = {k: v for k, v in refs.items() if k in wanted_ids}
    lts = collect_launch_templates(ctx, ctx.client("ec2"), in_use)
    if not cell.take(lts.result, templates):
        cell.failed.extend(groups)
        return
    for t in templates:
        if t.id in in_use and t.id not in {r.id for r in lts.result.resources}:
            cell.gone(view, t)
    if not cell.take(group_resources(ctx, raw, lts.index), groups):
        return
    found = {str(g["AutoScalingGroupName"]) for g in raw}
    for t in groups:
        if t.id not in found:
            cell.gone(view, t)


def _cluster_arn(ctx: UnitContext, cluster: str) -> str:
    return f"arn:aws:ecs:{ctx.region}:{ctx.account}:cluster/{cluster}"


def _in_use(view: SnapshotView, account: str, region: str) -> set[str]:
    used: set[str] = set()
    for kind, key in ((Kind.ECS_SERVICE, "taskDefinition"), (Kind.ECS_TASK, "taskDefinitionArn")):
        for r in view.of_kind(kind):
            if (r.account, r.region) == (account, region) and r.attributes.get(key):
                used.add(str(r.attributes[key]))
    return used


def _ecs(
    ctx: UnitContext,
    services: list[EventTarget],
    tasks: list[EventTarget],
    definitions: list[EventTarget],
    view: SnapshotView,
    cell: _Cell,
) -> None:
    if not (services or tasks or definitions):
        return
    unit = UnitState(ctx, Service.ECS, not_found=frozenset({"ClusterNotFoundException"}),
                     tag_keys=("key", "value"))  # fmt: skip
    used: set[str] = set()
    for named, describe in ((services, describe_services), (tasks, describe_tasks)):
        by_cluster: dict[str, list[EventTarget]] = {}
        for t in named:
            by_cluster.setdefault(t.id.split("/", 1)[0], []).append(t)
        for cluster, ts in sorted(by_cluster.items()):
            arns = [t.arn for t in ts if t.arn]
            used |= describe(unit, _cluster_arn(ctx, cluster), arns)
    # a registered revision is audited once something uses it, as in a full collection
    in_use = _in_use(view, ctx.account, ctx.region) | used
    used |= {t.arn for t in definitions if t.arn and t.arn in in_use}
    result = unit.result() + collect_task_definitions(ctx, unit.client, used, unit.now)
    if not cell.take(result, [*services, *tasks, *definitions]):
        return
    found = {r.arn for r in result.resources}
    for t in [*services, *tasks]:
        if t.arn not in found:
            cell.gone(view, t)


def _whole_unit(
    ctx: UnitContext,
    service: Service,
    named: list[EventTarget],
    view: SnapshotView,
    cell: _Cell,
    registry: Mapping[Service, Collector],
) -> None:
    """EKS and ECR: the whole (account, region) unit is re-collected (a few calls)."""
    if service is Service.ECR:
        cell_resources = [r for r in view if (r.account, r.region) == (ctx.account, ctx.region)]
        ctx = dataclasses.replace(ctx, image_refs=image_refs(cell_resources))
    result = registry[service](ctx)
    if cell.take(result, named):
        cell.units.update((k, ctx.account, ctx.region) for k in kinds_of(service))


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]

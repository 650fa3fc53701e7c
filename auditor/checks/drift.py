"""Checks of rules `drift.*`: a resource compared with its own first observed version.

The watched fields per kind are data (the `fields` param in rules/drift.yaml); anything not
watched, such as state, addresses, counts and timestamps AWS moves, never drifts. A resource
with no baseline is seen for the first time and has no drift. Evidence names each changed
field with its baseline and current value and the snapshot that recorded the baseline; user
data is watched by its hash only (collectors never keep its content).

drift.ecs_service_modified: a service changed outside its pipeline, or stuck half-way.
1. Out-of-band revision: its task definition differs from its baseline (first observed)
   and nothing vouches for the new revision: the Terraform state does not declare the
   service with that family:revision (`iac_vouches`), and the revision carries none of the
   `pipeline_tags` a deployment pipeline puts on what it registers.
2. Stuck or partial deployment: tasks of the service run another task definition than the
   service declares, or another image digest than one the task definition pins, for longer
   than `minutes`, while no deployment is IN_PROGRESS (a rollout in progress is expected
   to run two revisions side by side).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from auditor.checks.declared import declared_index, family_revision
from auditor.checks.fields import list_problems, missing_keys, read, top_key
from auditor.checks.result import PASS, CheckResult, fail, parse_time, unknown
from auditor.checks.spec import CheckSpec
from auditor.model import JSON, Baseline, Clock, Kind, Resource, SnapshotView, iso

ALIASES = {"$Default": "DefaultVersionNumber", "$Latest": "LatestVersionNumber"}


def _baseline_json(base: Baseline) -> dict[str, JSON]:
    return {"snapshot_id": base.snapshot_id, "first_seen": iso(base.first_seen)}


def field_changes(
    baseline: Resource, current: Resource, fields: Sequence[str]
) -> list[dict[str, JSON]]:
    """Each watched field whose value differs from the baseline. A field the baseline could
    not read has nothing to compare with and is skipped."""
    if baseline.attributes == current.attributes:
        return []
    skip = set(missing_keys(baseline.unavailable, fields))
    changes: list[dict[str, JSON]] = []
    for path in fields:
        if skip and top_key(path) in skip:
            continue
        old, new = read(baseline.attributes, path), read(current.attributes, path)
        if old != new:
            changes.append({"field": path, "baseline": old, "current": new})
    return changes


def drift_fields(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    """Watched `fields` changed since the baseline, unless a field of `unless_changed`
    changed too (e.g. a node group's Kubernetes version: that is an upgrade, a new build)."""
    base = view.baseline(resource.arn)
    if base is None:
        return PASS
    fields: list[str] = params["fields"]
    guards: list[str] = params.get("unless_changed") or []
    missing = missing_keys(resource.unavailable, [*fields, *guards])
    if missing:
        return unknown(
            f"attribute {', '.join(missing)} could not be read this cycle",
            {"unavailable": missing},
        )
    if guards and field_changes(base.resource, resource, guards):
        return PASS
    changes = field_changes(base.resource, resource, fields)
    if not changes:
        return PASS
    names = ", ".join(str(c["field"]) for c in changes)
    return fail(
        f"changed in place since first seen {iso(base.first_seen)}: {names}",
        {"changes": changes, "baseline": _baseline_json(base)},
    )


def _alias_users(view: SnapshotView) -> dict[tuple[str, str, str], list[tuple[str, str]]]:
    """(account, region, template id) -> [(group name, alias)] for groups using an alias."""
    out: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for group in view.of_kind(Kind.ASG):
        spec = group.attributes.get("LaunchTemplate")
        if isinstance(spec, Mapping) and spec.get("Version") in ALIASES:
            key = (group.account, group.region, str(spec.get("LaunchTemplateId")))
            out.setdefault(key, []).append((group.id, str(spec["Version"])))
    return out


def lt_default_changed(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    """`$Default`/`$Latest` resolves to another version than at the previous cycle while an
    Auto Scaling group launches through that alias: the fleet changes with no deployment."""
    history = view.history
    if history is None or history.previous is None:
        return PASS
    attrs = resource.attributes
    users = view.memo("drift.alias_users", _alias_users).get(
        (resource.account, resource.region, str(attrs.get("LaunchTemplateId"))), []
    )
    before = view.previous(resource.arn)
    moved: list[dict[str, JSON]] = []
    for alias, key in ALIASES.items():
        groups = sorted(name for name, used in users if used == alias)
        if before is None or before.attributes.get(key) == attrs.get(key):
            continue
        moved.append(
            {
                "alias": alias,
                "previous_version": before.attributes.get(key),
                "current_version": attrs.get(key),
                "groups": groups,
            }
        )
    if before is None:
        if users and _previous_gap(view, resource):
            return unknown(
                "the previous cycle could not list launch templates here: cannot tell whether "
                f"{', '.join(sorted({a for _, a in users}))} moved",
                {"groups": sorted(name for name, _ in users)},
            )
        return PASS
    used = [m for m in moved if m["groups"]]
    if used:
        text = "; ".join(
            f"{m['alias']} {m['previous_version']} -> {m['current_version']} "
            f"(used by {', '.join(m['groups'])})"
            for m in used
        )
        return fail(
            f"alias resolves to another version than at the previous cycle: {text}",
            {"moved": used, "previous_snapshot": history.previous.id},
        )
    if moved and view.gap_for(Kind.ASG, resource.account, resource.region) is not None:
        return unknown(
            "an alias of this template moved, and Auto Scaling groups could not be listed "
            "to tell whether one launches through it",
            {"moved": moved},
        )
    return PASS


def _previous_gap(view: SnapshotView, resource: Resource) -> bool:
    previous = view.history.previous if view.history is not None else None
    return previous is not None and any(
        g.covers(Kind.EC2_LAUNCH_TEMPLATE, resource.account, resource.region) for g in previous.gaps
    )


def validate_drift_fields(params: Mapping[str, Any]) -> list[str]:
    problems = list_problems(params.get("fields"), "fields")
    guards = params.get("unless_changed")
    if guards:
        problems += list_problems(guards, "unless_changed")
    return problems


_TASKS_KEY = "drift.service_tasks"


def _tasks_by_service(view: SnapshotView) -> dict[tuple[str, str], list[Resource]]:
    out: dict[tuple[str, str], list[Resource]] = {}
    for task in view.of_kind(Kind.ECS_TASK):
        name = task.attributes.get("ServiceName")
        if isinstance(name, str):
            out.setdefault((str(task.attributes.get("clusterArn")), name), []).append(task)
    return out


def _pinned(view: SnapshotView, task_definition: str) -> dict[str, str]:
    """container name -> digest, for containers the task definition pins by @sha256."""
    td = view.get(task_definition)
    out: dict[str, str] = {}
    for c in (td.attributes.get("containerDefinitions") or []) if td is not None else []:
        image = str(c.get("image") or "")
        if "@sha256:" in image:
            out[str(c.get("name"))] = image.split("@", 1)[1]
    return out


def _out_of_band(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView
) -> dict[str, JSON] | None:
    base = view.baseline(resource.arn)
    if base is None:
        return None
    changes = field_changes(base.resource, resource, ["taskDefinition"])
    if not changes:
        return None
    current = str(resource.attributes.get("taskDefinition"))
    if params["iac_vouches"]:
        declared = declared_index(view).lookup(resource)
        value = declared.attributes.get("Declared", {}).get("task_definition") if declared else None
        if value is not None and family_revision(value) == family_revision(current):
            return None
    td = view.get(current)
    tags = td.tags if td is not None else {}
    if any(t in tags for t in params["pipeline_tags"]):
        return None
    return {
        "changes": changes,
        "baseline": {"snapshot_id": base.snapshot_id, "first_seen": iso(base.first_seen)},
    }


def _stray_tasks(
    resource: Resource, minutes: float, view: SnapshotView, clock: Clock
) -> list[dict[str, JSON]] | None:
    """Tasks running something else than the service declares for too long; None when the
    tasks could not be listed."""
    attrs = resource.attributes
    deployments = attrs.get("deployments") or []
    if any(d.get("rolloutState") == "IN_PROGRESS" for d in deployments):
        return []
    key = (str(attrs.get("clusterArn")), str(attrs.get("serviceName")))
    tasks = view.memo(_TASKS_KEY, _tasks_by_service).get(key)
    if not tasks:
        return None if view.gap_for(Kind.ECS_TASK, resource.account, resource.region) else []
    declared = str(attrs.get("taskDefinition"))
    pinned = _pinned(view, declared)
    cutoff = clock.now() - timedelta(minutes=minutes)
    stray: list[dict[str, JSON]] = []
    for task in tasks:
        t = task.attributes
        started = parse_time(t.get("startedAt") or t.get("createdAt"))
        if started is None or started > cutoff:
            continue
        running = str(t.get("taskDefinitionArn"))
        if running != declared:
            stray.append({"task": task.id, "task_definition": running, "since": iso(started)})
            continue
        for c in t.get("containers") or []:
            want = pinned.get(str(c.get("name")))
            if want and c.get("imageDigest") and c["imageDigest"] != want:
                stray.append(
                    {
                        "task": task.id,
                        "container": c.get("name"),
                        "image_digest": c["imageDigest"],
                        "pinned_digest": want,
                        "since": iso(started),
                    }
                )
    return stray


def ecs_service_modified(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    out_of_band = _out_of_band(resource, params, view)
    stray = _stray_tasks(resource, float(params["minutes"]), view, clock)
    evidence: dict[str, JSON] = {}
    reasons: list[str] = []
    if out_of_band is not None:
        change = out_of_band["changes"][0]
        reasons.append(
            f"task definition changed from {family_revision(change['baseline'])} to "
            f"{family_revision(change['current'])} outside the declared pipeline"
        )
        evidence.update(out_of_band)
    if stray:
        reasons.append(
            f"{len(stray)} task(s) run another task definition or image digest than the "
            f"service declares for more than {params['minutes']} minutes"
        )
        evidence["stray_tasks"] = stray
    if reasons:
        return fail("; ".join(reasons), evidence)
    if stray is None:
        return unknown(
            "ecs.task could not be listed here: cannot tell whether tasks run what the "
            "service declares"
        )
    return PASS


def validate_ecs_service(params: Mapping[str, Any]) -> list[str]:
    tags = params.get("pipeline_tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        return ["pipeline_tags: expected a list of tag keys"]
    return []


CHECKS: Mapping[str, CheckSpec] = {
    "drift_fields": CheckSpec(
        drift_fields, needs_baseline=True, validate_params=validate_drift_fields
    ),
    "ecs_service_modified": CheckSpec(
        ecs_service_modified, needs_baseline=True, validate_params=validate_ecs_service
    ),
    "lt_default_changed": CheckSpec(lt_default_changed),
}

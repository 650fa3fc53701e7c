"""drift.ecs_service_modified: a service changed outside its pipeline, or stuck half-way.

Two ways a service stops being what was deployed:
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

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from auditor.checks.declared import declared_index, family_revision
from auditor.checks.drift import field_changes
from auditor.checks.result import PASS, CheckResult, fail, parse_time, unknown
from auditor.model import JSON, Clock, Kind, Resource, SnapshotView, iso

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

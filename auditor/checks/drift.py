"""Drift over time: a resource compared with its own first observed version (its baseline).

The watched fields per kind are data (the `fields` param in rules/drift.yaml); anything not
watched, such as state, addresses, counts and timestamps AWS moves, never drifts. A resource
with no baseline is seen for the first time and has no drift. Evidence names each changed
field with its baseline and current value and the snapshot that recorded the baseline; user
data is watched by its hash only (collectors never keep its content).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from auditor.checks.fields import list_problems, missing_keys, read, top_key
from auditor.checks.result import PASS, CheckResult, fail, unknown
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

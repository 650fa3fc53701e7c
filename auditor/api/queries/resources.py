"""A resource's page: configuration versions with field-level diffs, findings and actions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa

from auditor.api.models import Action, ConfigVersion, FieldChange, FindingEvent, ResourceDetail
from auditor.api.models import ResourceFinding as ResourceFindingModel
from auditor.api.queries.findings import FindingFilter, search
from auditor.model import RuleInfo
from auditor.store import snapshot_reads
from auditor.store.actions import ACTIONS
from auditor.store.findings import finding_history

_MISSING = object()


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaf values by dotted path (list items by index), so a diff names the field."""
    if isinstance(value, Mapping):
        if not value and prefix:
            yield prefix, {}
        for key in sorted(value, key=str):
            yield from flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        if not value and prefix:
            yield prefix, []
        for i, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{i}]")
    else:
        yield prefix, value


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldChange]:
    old, new = dict(flatten(before)), dict(flatten(after))
    out: list[FieldChange] = []
    for path in sorted(old.keys() | new.keys()):
        a, b = old.get(path, _MISSING), new.get(path, _MISSING)
        if a is _MISSING:
            out.append(FieldChange(path=path, after=b, change="added"))
        elif b is _MISSING:
            out.append(FieldChange(path=path, before=a, change="removed"))
        elif a != b:
            out.append(FieldChange(path=path, before=a, after=b, change="changed"))
    return out


def _document(version: Any) -> dict[str, Any]:
    r = version.resource
    return {"tags": dict(r.tags), "attributes": dict(r.attributes)}


def resource_detail(
    conn: sa.Connection, arn: str, rules: Mapping[str, RuleInfo]
) -> ResourceDetail | None:
    versions = snapshot_reads.resource_versions(conn, arn)
    found = search(
        conn, FindingFilter(arn=arn, include_resolved=True), rules, "-first_seen", limit=200
    ).items
    if not versions and not found:
        return None
    out_versions: list[ConfigVersion] = []
    previous: dict[str, Any] | None = None
    for v in versions:
        doc = _document(v)
        out_versions.append(
            ConfigVersion(
                config_hash=v.config_hash,
                first_seen=v.first_seen,
                last_seen=v.last_seen,
                first_snapshot_id=v.first_snapshot_id,
                last_snapshot_id=v.last_snapshot_id,
                changes=diff(previous, doc) if previous is not None else [],
            )
        )
        previous = doc
    findings = [
        ResourceFindingModel(
            finding=f,
            history=[
                FindingEvent(
                    cycle_id=e.cycle_id,
                    event=e.event.value,
                    status=e.status.value,
                    severity=e.severity.value,
                    at=e.at,
                )
                for e in finding_history(conn, f.id)
            ],
        )
        for f in found
    ]
    finding_ids = {f.id for f in found}
    rows = conn.execute(
        sa.select(ACTIONS).where(ACTIONS.c.target_arn == arn).order_by(ACTIONS.c.at.desc())
    ).mappings()
    actions = [_action(r) for r in rows]
    if finding_ids:
        seen = {a.id for a in actions}
        recent = conn.execute(
            sa.select(ACTIONS).order_by(ACTIONS.c.at.desc()).limit(2000)
        ).mappings()
        actions += [
            _action(r)
            for r in recent
            if r["id"] not in seen and finding_ids & set(r["finding_ids"] or ())
        ]
    attribution = [
        {"finding_id": f.id, **f.evidence["attribution"]}
        for f in found
        if isinstance(f.evidence.get("attribution"), dict)
    ]
    return ResourceDetail(
        arn=arn,
        current=_document(versions[-1]) if versions else None,
        versions=list(reversed(out_versions)),
        findings=findings,
        actions=actions,
        attribution=attribution,
    )


def _action(r: Mapping[Any, Any]) -> Action:
    return Action(
        id=r["id"],
        cycle_id=r["cycle_id"],
        target_arn=r["target_arn"],
        target_kind=r["target_kind"],
        action=r["action"],
        mode=r["mode"],
        status=r["status"],
        reason=r["reason"],
        finding_ids=list(r["finding_ids"] or ()),
        account=r["account"],
        region=r["region"],
        at=r["at"],
    )

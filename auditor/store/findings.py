"""Tracked findings (current state, upserted) and their append-only event history."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from auditor.model import Severity, Status, TrackedFinding
from auditor.store.codec import finding_from_parts
from auditor.store.engine import insert_for, is_in
from auditor.store.records import FindingEvent, FindingEventKind
from auditor.store.snapshots import chunks
from auditor.store.tables import FindingEventRow, FindingRow, table

FINDINGS = table(FindingRow)
EVENTS = table(FindingEventRow)

_UPDATED = (
    "rule_id",
    "severity",
    "status",
    "resource",
    "message",
    "evidence",
    "exemption",
    "first_seen",
    "last_seen",
    "consecutive_cycles",
    "resolved_at",
)


def _row(tracked: TrackedFinding) -> dict[str, Any]:
    f = tracked.finding
    return {
        "id": tracked.id,
        "rule_id": f.rule_id,
        "severity": f.severity.value,
        "status": f.status.value,
        "resource": f.resource.to_json(),
        "message": f.message,
        "evidence": dict(f.evidence),
        "exemption": f.exemption.to_json() if f.exemption else None,
        "first_seen": tracked.first_seen,
        "last_seen": tracked.last_seen,
        "consecutive_cycles": tracked.consecutive_cycles,
        "resolved_at": tracked.resolved_at,
    }


def write_findings(
    conn: sa.Connection, cycle_id: str, at: datetime, tracked: Sequence[TrackedFinding]
) -> None:
    """Upsert every touched finding and append one event per finding for this cycle."""
    unique = list({t.id: t for t in tracked}.values())
    if not unique:
        return
    before: dict[str, datetime | None] = {}
    for chunk in chunks([t.id for t in unique]):
        rows = conn.execute(
            sa.select(FINDINGS.c.id, FINDINGS.c.resolved_at).where(
                is_in(conn, FINDINGS.c.id, chunk)
            )
        )
        before.update({str(fid): resolved for fid, resolved in rows})

    events: list[dict[str, Any]] = []
    for t in unique:
        known = t.id in before
        event = _event(t, known=known, was_open=known and before[t.id] is None)
        if event is None:
            continue
        events.append(
            {
                "cycle_id": cycle_id,
                "finding_id": t.id,
                "event": event.value,
                "status": t.finding.status.value,
                "severity": t.finding.severity.value,
                "at": at,
            }
        )

    for batch in chunks(unique):
        stmt = insert_for(conn, FINDINGS).values([_row(t) for t in batch])
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[FINDINGS.c.id],
                set_={name: stmt.excluded[name] for name in _UPDATED},
            )
        )
    if events:
        conn.execute(EVENTS.insert(), events)


def _event(t: TrackedFinding, *, known: bool, was_open: bool) -> FindingEventKind | None:
    if t.resolved_at is not None:
        # resolving an already-resolved finding again is not news
        return FindingEventKind.RESOLVED if was_open else None
    if t.finding.status is Status.EXEMPT:
        return FindingEventKind.EXEMPT
    if known and was_open:
        return FindingEventKind.OPEN
    return FindingEventKind.NEW


def open_findings(
    conn: sa.Connection, ids: Collection[str] | None = None
) -> dict[str, TrackedFinding]:
    """Every open finding, or the open ones among `ids`."""
    query = sa.select(FINDINGS).where(FINDINGS.c.resolved_at.is_(None)).order_by(FINDINGS.c.id)
    if ids is None:
        return {r["id"]: _tracked(r) for r in conn.execute(query).mappings()}
    out: dict[str, TrackedFinding] = {}
    for chunk in chunks(sorted(ids)):
        rows = conn.execute(query.where(is_in(conn, FINDINGS.c.id, chunk))).mappings()
        out.update({r["id"]: _tracked(r) for r in rows})
    return out


def _tracked(r: sa.RowMapping) -> TrackedFinding:
    finding = finding_from_parts(
        rule_id=r["rule_id"],
        severity=r["severity"],
        status=r["status"],
        resource=r["resource"],
        message=r["message"],
        evidence=r["evidence"],
        exemption=r["exemption"],
    )
    return TrackedFinding(
        finding=finding,
        first_seen=r["first_seen"],
        last_seen=r["last_seen"],
        consecutive_cycles=r["consecutive_cycles"],
        resolved_at=r["resolved_at"],
    )


def finding_history(conn: sa.Connection, finding_id: str) -> list[FindingEvent]:
    rows = conn.execute(
        sa.select(EVENTS).where(EVENTS.c.finding_id == finding_id).order_by(EVENTS.c.id)
    ).mappings()
    return [
        FindingEvent(
            cycle_id=r["cycle_id"],
            finding_id=r["finding_id"],
            event=FindingEventKind(r["event"]),
            status=Status(r["status"]),
            severity=Severity(r["severity"]),
            at=r["at"],
        )
        for r in rows
    ]

"""Tracked findings (current state, written when it changes) and their transitions.

A finding's row is an open range: written when it appears, changes, stops being observed
or is resolved, and left alone while it stays the same, so a cycle in which nothing
changed writes no finding row and no event.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from auditor.model import Severity, Status, TrackedFinding, canonical_json, iso, sha256_hex
from auditor.store.codec import finding_from_parts
from auditor.store.engine import is_in
from auditor.store.records import FindingEvent, FindingEventKind
from auditor.store.snapshots import CYCLES, CycleKey, chunks
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
    "seen_ordinal",
    "live",
    "content_sha256",
)


def _row(tracked: TrackedFinding, ordinal: int, *, live: bool, content: str) -> dict[str, Any]:
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
        "seen_ordinal": ordinal,
        "live": live,
        "content_sha256": content,
    }


def _content(t: TrackedFinding) -> str:
    """What, if it differs from the stored row, makes the row worth writing again."""
    f = t.finding
    return sha256_hex(
        canonical_json(
            [
                f.rule_id,
                f.severity.value,
                f.status.value,
                f.resource.to_json(),
                f.message,
                dict(f.evidence),
                f.exemption.to_json() if f.exemption else None,
                iso(t.first_seen),
                iso(t.resolved_at) if t.resolved_at else None,
            ]
        )
    )


def _upsert(dialect: str) -> Any:
    """One compiled-once upsert per dialect, executed with many parameter sets."""
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        from sqlalchemy.dialects import postgresql

        base = postgresql.insert(FINDINGS) if dialect == "postgresql" else sqlite.insert(FINDINGS)
        stmt = base.on_conflict_do_update(
            index_elements=[FINDINGS.c.id],
            set_={name: base.excluded[name] for name in _UPDATED},
        )
        _UPSERTS[dialect] = stmt
    return stmt


_UPSERTS: dict[str, Any] = {}


def write_findings(
    conn: sa.Connection,
    cycle: CycleKey,
    cycle_id: str,
    at: datetime,
    tracked: Sequence[TrackedFinding],
    observed: AbstractSet[str],
) -> None:
    """Write the findings that changed and one event per transition.

    `observed` holds the ids this cycle's evaluation judged: an open finding among them that
    is stored unchanged needs no write at all (its last_seen and consecutive_cycles follow
    the latest cycle, see open_findings). A finding carried over unobserved, a resolution or
    any change of content rewrites the row.
    """
    unique = list({t.id: t for t in tracked}.values())
    if not unique:
        return
    before: dict[str, Any] = {}
    for chunk in chunks([t.id for t in unique]):
        rows = conn.execute(
            sa.select(
                FINDINGS.c.id,
                FINDINGS.c.resolved_at,
                FINDINGS.c.status,
                FINDINGS.c.severity,
                FINDINGS.c.live,
                FINDINGS.c.seen_ordinal,
                FINDINGS.c.consecutive_cycles,
                FINDINGS.c.content_sha256,
            ).where(is_in(conn, FINDINGS.c.id, chunk))
        )
        before.update({str(r.id): r for r in rows})

    events: list[dict[str, Any]] = []
    writes: list[dict[str, Any]] = []
    for t in unique:
        old = before.get(t.id)
        live = t.resolved_at is None and t.id in observed
        content = _content(t)
        if old is not None and live and _unchanged(old, t, content, cycle.ordinal):
            continue
        writes.append(_row(t, cycle.ordinal, live=live, content=content))
        event = _event(t, old)
        if event is not None:
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
    if writes:
        conn.execute(_upsert(conn.dialect.name), writes)
    if events:
        conn.execute(EVENTS.insert(), events)


def _unchanged(old: Any, t: TrackedFinding, content: str, ordinal: int) -> bool:
    if old.resolved_at is not None or not old.live or old.content_sha256 != content:
        return False
    expected = int(old.consecutive_cycles) + ordinal - int(old.seen_ordinal or 0)
    return expected == t.consecutive_cycles


def _event(t: TrackedFinding, old: Any) -> FindingEventKind | None:
    status = t.finding.status
    was_open = old is not None and old.resolved_at is None
    if t.resolved_at is not None:
        # resolving an already-resolved finding again is not news
        return FindingEventKind.RESOLVED if was_open else None
    if not was_open:
        return FindingEventKind.EXEMPT if status is Status.EXEMPT else FindingEventKind.NEW
    assert old is not None
    if old.status == status.value and old.severity == t.finding.severity.value:
        return None
    if status is Status.EXEMPT:
        return FindingEventKind.EXEMPT
    if old.status == Status.EXEMPT.value:
        return FindingEventKind.EXEMPTION_ENDED
    return FindingEventKind.CHANGED


def open_findings(
    conn: sa.Connection, ids: Collection[str] | None = None
) -> dict[str, TrackedFinding]:
    """Every open finding (or the open ones among `ids`); one still observed takes last_seen
    and consecutive_cycles from the latest cycle (the open range), one carried over keeps
    what was stored."""
    latest = conn.execute(
        sa.select(CYCLES.c.ordinal, CYCLES.c.seen_at, CYCLES.c.evaluated_at, CYCLES.c.finished_at)
        .order_by(CYCLES.c.seq.desc())
        .limit(1)
    ).first()
    query = sa.select(FINDINGS).where(FINDINGS.c.resolved_at.is_(None)).order_by(FINDINGS.c.id)
    if ids is None:
        rows: list[sa.RowMapping] = list(conn.execute(query).mappings())
    else:
        rows = []
        for chunk in chunks(sorted(ids)):
            rows += conn.execute(query.where(is_in(conn, FINDINGS.c.id, chunk))).mappings()
    out: dict[str, TrackedFinding] = {}
    for r in rows:
        tracked = _tracked(r)
        if r["live"] and latest is not None and latest.ordinal is not None:
            tracked = replace(
                tracked,
                last_seen=latest.seen_at or latest.evaluated_at or latest.finished_at,
                consecutive_cycles=tracked.consecutive_cycles
                + int(latest.ordinal)
                - int(r["seen_ordinal"] or latest.ordinal),
            )
        out[r["id"]] = tracked
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

"""Feed events: which were handled (idempotency), who changed a resource, shells opened."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from auditor.model import JSON, AccessRecord, Attribution, parse_iso
from auditor.store.engine import insert_for, is_in
from auditor.store.records import EventRecord
from auditor.store.snapshots import chunks
from auditor.store.tables import EventResourceRow, EventRow, table

EVENTS = table(EventRow)
RESOURCES = table(EventResourceRow)


def write_events(conn: sa.Connection, cycle_id: str | None, records: Sequence[EventRecord]) -> None:
    """Insert events not stored yet (an id already stored is a redelivery: ignored)."""
    unique = list({r.event_id: r for r in records}.values())
    if not unique:
        return
    known = handled(conn, [r.event_id for r in unique])
    fresh = [r for r in unique if r.event_id not in known]
    if not fresh:
        return
    conn.execute(
        insert_for(conn, EVENTS)
        .values(
            [
                {
                    "event_id": r.event_id,
                    "detail_type": r.detail_type,
                    "event_name": r.event_name,
                    "account": r.account,
                    "region": r.region,
                    "event_time": r.attribution.event_time if r.attribution else None,
                    "received_at": r.received_at,
                    "cycle_id": cycle_id,
                    "attribution": r.attribution.to_json() if r.attribution else None,
                }
                for r in fresh
            ]
        )
        .on_conflict_do_nothing(index_elements=[EVENTS.c.event_id])
    )
    rows: list[dict[str, Any]] = []
    for r in fresh:
        shells = {a.target_arn: a for a in r.access}
        for arn in sorted(set(r.arns) | set(shells)):
            shell = shells.get(arn)
            rows.append(
                {
                    "event_id": r.event_id,
                    "arn": arn,
                    "access_kind": shell.kind if shell else None,
                    "session_id": shell.session_id if shell else None,
                }
            )
    if rows:
        conn.execute(RESOURCES.insert(), rows)


def handled(conn: sa.Connection, event_ids: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for chunk in chunks(sorted(set(event_ids))):
        out.update(
            conn.scalars(sa.select(EVENTS.c.event_id).where(is_in(conn, EVENTS.c.event_id, chunk)))
        )
    return out


def attribution_from_json(data: Mapping[str, JSON]) -> Attribution:
    def text(key: str) -> str | None:
        value = data.get(key)
        return str(value) if value is not None else None

    return Attribution(
        event_id=str(data["event_id"]),
        event_name=str(data["event_name"]),
        event_source=str(data.get("event_source") or ""),
        event_time=parse_iso(str(data["event_time"])),
        principal_arn=text("principal_arn"),
        principal_type=text("principal_type"),
        session_issuer=text("session_issuer"),
        sso_user=text("sso_user"),
        source_ip=text("source_ip"),
        user_agent=text("user_agent"),
        origin=str(data.get("origin") or "event"),
    )


def attributions(conn: sa.Connection, arns: Iterable[str]) -> dict[str, Attribution]:
    """The latest recorded call (by event time, so reordering is harmless) that changed each
    resource; shells are not changes and are left out."""
    out: dict[str, Attribution] = {}
    for chunk in chunks(sorted(set(arns))):
        rows = conn.execute(
            sa.select(RESOURCES.c.arn, EVENTS.c.attribution)
            .join(EVENTS, EVENTS.c.event_id == RESOURCES.c.event_id)
            .where(is_in(conn, RESOURCES.c.arn, chunk))
            .where(RESOURCES.c.access_kind.is_(None))
            .where(EVENTS.c.attribution.is_not(None))
            .order_by(EVENTS.c.event_time, EVENTS.c.event_id)
        )
        for arn, data in rows:
            out[str(arn)] = attribution_from_json(data)  # later rows win
    return out


def access_records(conn: sa.Connection) -> dict[str, tuple[AccessRecord, ...]]:
    """Every recorded shell, by target ARN, oldest first (a small table: shells are rare)."""
    rows = conn.execute(
        sa.select(
            RESOURCES.c.arn, RESOURCES.c.access_kind, RESOURCES.c.session_id, EVENTS.c.attribution
        )
        .join(EVENTS, EVENTS.c.event_id == RESOURCES.c.event_id)
        .where(RESOURCES.c.access_kind.is_not(None))
        .order_by(EVENTS.c.event_time, EVENTS.c.event_id)
    )
    out: dict[str, list[AccessRecord]] = {}
    for arn, kind, session, data in rows:
        if data is None:
            continue
        record = AccessRecord(str(kind), str(arn), session, attribution_from_json(data))
        out.setdefault(str(arn), []).append(record)
    return {arn: tuple(v) for arn, v in out.items()}

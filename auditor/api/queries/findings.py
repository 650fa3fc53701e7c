"""The findings explorer: filter, search, sort and page the tracked findings.

Keyset paging over (sort key, id): a page costs the same wherever it is in the list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from auditor.api import paging
from auditor.api.models import Finding, FindingPage, ResourceRef
from auditor.model import RuleInfo
from auditor.store.findings import FINDINGS

SortKey = Literal[
    "severity", "-severity", "first_seen", "-first_seen", "last_seen", "-last_seen",
    "rule_id", "-rule_id",
]  # fmt: skip
SEVERITY_ORDER = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}
OWNER_TAGS = ("owner",)  # the tag key the owner filter reads (indexed on PostgreSQL)


@dataclass(frozen=True, slots=True)
class FindingFilter:
    rule: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    account: tuple[str, ...] = ()
    region: tuple[str, ...] = ()
    kind: tuple[str, ...] = ()
    control: str | None = None  # a framework control id, "CM-2" or "NIST 800-53:CM-2"
    first_seen_after: datetime | None = None
    first_seen_before: datetime | None = None
    owner: str | None = None
    q: str | None = None
    include_resolved: bool = False
    arn: str | None = None


def rules_for_control(control: str, rules: Mapping[str, RuleInfo]) -> list[str]:
    wanted = control.strip().lower()
    out = []
    for rule in rules.values():
        for framework, controls in rule.frameworks.items():
            if any(c.lower() == wanted or f"{framework}:{c}".lower() == wanted for c in controls):
                out.append(rule.id)
                break
    return out


def _field(dialect: str, *path: str) -> Any:
    """A resource field as text. On PostgreSQL with literal keys, so the expression indexes
    of migration 0007 (`resource->>'account'` ...) match the query."""
    if dialect == "postgresql":
        expr: Any = FINDINGS.c.resource
        for key in path[:-1]:
            expr = expr.op("->")(sa.literal_column(f"'{key}'"))
        return expr.op("->>", return_type=sa.String)(sa.literal_column(f"'{path[-1]}'"))
    if len(path) == 1:
        return FINDINGS.c.resource[path[0]].as_string()
    return FINDINGS.c.resource[path].as_string()


def _severity_rank() -> Any:
    return sa.case(SEVERITY_ORDER, value=FINDINGS.c.severity, else_=-1)


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def conditions(
    flt: FindingFilter, rules: Mapping[str, RuleInfo], dialect: str = "sqlite"
) -> list[Any]:
    c = FINDINGS.c
    where: list[Any] = []
    if not flt.include_resolved:
        where.append(c.resolved_at.is_(None))
    if flt.rule:
        where.append(c.rule_id.in_(flt.rule))
    if flt.severity:
        where.append(c.severity.in_(flt.severity))
    if flt.status:
        where.append(c.status.in_(flt.status))
    for values, name in ((flt.account, "account"), (flt.region, "region"), (flt.kind, "kind")):
        if values:
            where.append(_field(dialect, name).in_(values))
    if flt.arn:
        where.append(_field(dialect, "arn") == flt.arn)
    if flt.control:
        where.append(c.rule_id.in_(rules_for_control(flt.control, rules)))
    if flt.first_seen_after is not None:
        where.append(c.first_seen >= flt.first_seen_after)
    if flt.first_seen_before is not None:
        where.append(c.first_seen < flt.first_seen_before)
    if flt.owner:
        where.append(sa.or_(*(_field(dialect, "tags", tag) == flt.owner for tag in OWNER_TAGS)))
    if flt.q:
        pattern = _like(flt.q)
        where.append(
            sa.or_(
                sa.func.lower(c.rule_id).like(pattern, escape="\\"),
                sa.func.lower(c.message).like(pattern, escape="\\"),
                sa.func.lower(_field(dialect, "arn")).like(pattern, escape="\\"),
                c.id == flt.q.strip(),
            )
        )
    return where


def _sort_column(sort: str) -> tuple[Any, bool]:
    key = sort.lstrip("-")
    column = {
        "severity": _severity_rank(),
        "first_seen": FINDINGS.c.first_seen,
        "last_seen": FINDINGS.c.last_seen,
        "rule_id": FINDINGS.c.rule_id,
    }[key]
    return column, sort.startswith("-")


def _sort_value(row: Mapping[Any, Any], sort: str) -> str | int:
    key = sort.lstrip("-")
    if key == "severity":
        return SEVERITY_ORDER.get(str(row["severity"]), -1)
    value = row[key]
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _after(sort: str, position: list[Any]) -> Any:
    column, desc = _sort_column(sort)
    value, last_id = position
    if sort.lstrip("-") in ("first_seen", "last_seen"):
        if not isinstance(value, str):
            raise ValueError("bad cursor")
        value = datetime.fromisoformat(value)
    if desc:
        return sa.or_(column < value, sa.and_(column == value, FINDINGS.c.id > last_id))
    return sa.or_(column > value, sa.and_(column == value, FINDINGS.c.id > last_id))


def to_model(row: Mapping[Any, Any], rules: Mapping[str, RuleInfo]) -> Finding:
    resource = dict(row["resource"])
    info = rules.get(str(row["rule_id"]))
    return Finding(
        id=row["id"],
        rule_id=row["rule_id"],
        title=info.title if info else None,
        severity=row["severity"],
        status=row["status"],
        resource=ResourceRef(
            arn=str(resource.get("arn", "")),
            id=str(resource.get("id", "")),
            kind=str(resource.get("kind", "")),
            account=str(resource.get("account", "")),
            region=str(resource.get("region", "")),
            tags={str(k): str(v) for k, v in (resource.get("tags") or {}).items()},
        ),
        message=row["message"],
        evidence=dict(row["evidence"] or {}),
        exemption=row["exemption"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        resolved_at=row["resolved_at"],
    )


def search(
    conn: sa.Connection,
    flt: FindingFilter,
    rules: Mapping[str, RuleInfo],
    sort: str = "-severity",
    cursor: str | None = None,
    limit: int = 50,
    *,
    with_total: bool = True,
) -> FindingPage:
    """One page of findings matching `flt`, and how many match in all."""
    where = conditions(flt, rules, conn.dialect.name)
    column, desc = _sort_column(sort)
    position = paging.decode(cursor, 2)
    page_where = list(where)
    if position is not None:
        try:
            page_where.append(_after(sort, position))
        except (ValueError, TypeError):
            from fastapi import HTTPException

            raise HTTPException(400, "bad cursor") from None
    stmt = (
        sa.select(FINDINGS)
        .where(*page_where)
        .order_by(column.desc() if desc else column.asc(), FINDINGS.c.id.asc())
        .limit(limit + 1)
    )
    rows = list(conn.execute(stmt).mappings())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = (
        paging.encode([_sort_value(rows[-1], sort), rows[-1]["id"]]) if more and rows else None
    )
    total = -1
    if with_total:
        total = int(conn.execute(sa.select(sa.func.count()).select_from(FINDINGS).where(*where))
                    .scalar_one())  # fmt: skip
    return FindingPage(
        items=[to_model(r, rules) for r in rows], total=total, next_cursor=next_cursor
    )


def export_rows(
    conn: sa.Connection, flt: FindingFilter, rules: Mapping[str, RuleInfo], sort: str, cap: int
) -> Sequence[Finding]:
    """Every finding matching `flt` (up to `cap`), for CSV/JSON export."""
    column, desc = _sort_column(sort)
    stmt = (
        sa.select(FINDINGS)
        .where(*conditions(flt, rules, conn.dialect.name))
        .order_by(column.desc() if desc else column.asc(), FINDINGS.c.id.asc())
        .limit(cap)
    )
    return [to_model(r, rules) for r in conn.execute(stmt).mappings()]


CSV_COLUMNS = (
    "id", "rule_id", "severity", "status", "account", "region", "kind", "arn",
    "message", "first_seen", "last_seen",
)  # fmt: skip


def csv_row(f: Finding) -> list[str]:
    r = f.resource
    values = [
        f.id, f.rule_id, f.severity, f.status, r.account, r.region, r.kind, r.arn,
        f.message, f.first_seen.isoformat(), f.last_seen.isoformat(),
    ]  # fmt: skip
    # a cell starting with = + - @ is a formula to a spreadsheet: neutralise it
    return ["'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v for v in values]

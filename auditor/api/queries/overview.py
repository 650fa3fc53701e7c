"""The overview: score and trend, latest coverage and gaps, counts, new and resolved."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from auditor.api.models import Count, Gap, Overview, TrendPoint
from auditor.api.reports import ReportLibrary
from auditor.model import RuleInfo
from auditor.store.findings import EVENTS, FINDINGS
from auditor.store.tables import CycleRow, table

CYCLES = table(CycleRow)
TREND_POINTS = 30


def _counts(rows: list[tuple[str, str, int]]) -> list[Count]:
    by: dict[str, Counter[str]] = {}
    for key, status, n in rows:
        by.setdefault(key, Counter())[status] += n
    return [
        Count(key=k, fail=c["fail"], unknown=c["unknown"], exempt=c["exempt"])
        for k, c in sorted(by.items(), key=lambda kv: (-kv[1]["fail"], kv[0]))
    ]


def overview(
    conn: sa.Connection, library: ReportLibrary, rules: Mapping[str, RuleInfo]
) -> Overview:
    reports = library.list()
    trend = [
        TrendPoint(
            report_id=r["report_id"],
            generated_at=r["generated_at"],
            score=r["score"],
            failed=r["failed"],
        )
        for r in reversed(reports[:TREND_POINTS])
    ]
    latest = conn.execute(
        sa.select(CYCLES.c.id, CYCLES.c.gaps).order_by(CYCLES.c.seq.desc()).limit(1)
    ).first()
    gaps = [
        Gap(
            account=str(g.get("account", "")),
            region=str(g.get("region", "")),
            service=str(g.get("service", "")),
            error=f"{g.get('error_code', '')}: {g.get('message', '')}",
        )
        for g in (latest.gaps if latest is not None else [])
        if isinstance(g, dict)
    ]
    open_ = FINDINGS.c.resolved_at.is_(None)
    account = FINDINGS.c.resource["account"].as_string()
    by_account = conn.execute(
        sa.select(account, FINDINGS.c.status, sa.func.count())
        .where(open_)
        .group_by(account, FINDINGS.c.status)
    ).all()
    by_rule = conn.execute(
        sa.select(FINDINGS.c.rule_id, FINDINGS.c.status, sa.func.count())
        .where(open_)
        .group_by(FINDINGS.c.rule_id, FINDINGS.c.status)
    ).all()
    by_framework: list[tuple[str, str, int]] = []
    for rule_id, status, n in by_rule:
        info = rules.get(rule_id)
        for framework in info.frameworks if info else ():
            by_framework.append((framework, status, n))
    since = _parse(reports[0]["generated_at"]) if reports else None
    events: dict[str, int] = {}
    if since is not None:
        events = {
            str(e): int(n)
            for e, n in conn.execute(
                sa.select(EVENTS.c.event, sa.func.count())
                .where(EVENTS.c.at > since, EVENTS.c.event.in_(("new", "resolved")))
                .group_by(EVENTS.c.event)
            )
        }
    return Overview(
        score=reports[0]["score"] if reports else None,
        trend=trend,
        latest_cycle=latest.id if latest is not None else None,
        coverage_complete=(not gaps) if latest is not None else None,
        gaps=gaps,
        by_account=_counts([(str(a), s, n) for a, s, n in by_account]),
        by_rule=_counts([(str(r), s, n) for r, s, n in by_rule]),
        by_framework=_counts(by_framework),
        new_since_report=events.get("new", 0),
        resolved_since_report=events.get("resolved", 0),
        since=since,
    )


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None

"""Migration 0004 converts a store written before it without losing history.

Before 0004 every cycle rewrote every open finding and appended an "open" event for it.
After the upgrade: the transitions remain (new, a status change, resolved), the repeated
"open" rows are folded into the range, open findings read back as they were stored, and
the next unchanged cycle writes no finding row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from auditor.model import Evaluation
from auditor.store import CycleRecord, FindingEventKind, Store
from auditor.store.engine import migrate
from auditor.store.tables import CycleRow, FindingEventRow, FindingRow, table
from tests.store.builders import T0, instance, snapshot, tracked

STEP = timedelta(minutes=15)
_NEW_COLUMNS = {"ordinal", "seen_at", "seen_ordinal", "live", "content_sha256"}


def _old(model: type) -> sa.Table:
    """The table as revision 0002 had it (without the columns 0004 adds)."""
    current = table(model)
    md = sa.MetaData()
    return sa.Table(
        current.name,
        md,
        *(c._copy() for c in current.columns if c.name not in _NEW_COLUMNS),
    )


def _at(n: int) -> datetime:
    return T0 + n * STEP


def test_upgrade_folds_per_cycle_events_and_keeps_open_findings(store_url: str) -> None:
    """Three old cycles: f1 observed throughout, f2 carried over unknown in cycle 3, f3
    resolved in cycle 2; the upgrade keeps every transition and every open finding."""
    old = Store.open(store_url, migrate=False)
    migrate(old.engine, "0002_api_tokens")
    f1 = tracked(instance(1), first=_at(1), last=_at(3), cycles=3)
    f2 = tracked(instance(2), first=_at(1), last=_at(2), cycles=2)
    f3 = tracked(instance(3), first=_at(1), last=_at(1), cycles=1, resolved_at=_at(2))
    cycles, findings, events = _old(CycleRow), _old(FindingRow), _old(FindingEventRow)
    with old.engine.begin() as conn:
        for n in (1, 2, 3):
            conn.execute(
                cycles.insert().values(
                    id=f"c{n}",
                    started_at=_at(n),
                    finished_at=_at(n) + timedelta(seconds=30),
                    scope={},
                    gaps=[],
                    api_calls={},
                    resource_count=3,
                    evaluated_at=_at(n) + timedelta(seconds=20),
                    cycle_metadata={},
                )
            )
        for t, status in ((f1, "fail"), (f2, "unknown"), (f3, "fail")):
            f = t.finding
            conn.execute(
                findings.insert().values(
                    id=t.id,
                    rule_id=f.rule_id,
                    severity=f.severity.value,
                    status=status,
                    resource=f.resource.to_json(),
                    message=f.message,
                    evidence=dict(f.evidence),
                    exemption=None,
                    first_seen=t.first_seen,
                    last_seen=t.last_seen,
                    consecutive_cycles=t.consecutive_cycles,
                    resolved_at=t.resolved_at,
                )
            )
        rows = [
            (f1, 1, "new", "fail"),
            (f1, 2, "open", "fail"),
            (f1, 3, "open", "fail"),
            (f2, 1, "new", "fail"),
            (f2, 2, "open", "fail"),
            (f2, 3, "open", "unknown"),
            (f3, 1, "new", "fail"),
            (f3, 2, "resolved", "fail"),
        ]
        conn.execute(
            events.insert(),
            [
                {
                    "cycle_id": f"c{n}",
                    "finding_id": t.id,
                    "event": e,
                    "status": s,
                    "severity": "high",
                    "at": _at(n) + timedelta(seconds=20),
                }
                for t, n, e, s in rows
            ],
        )
    old.close()

    store = Store.open(store_url)
    try:
        assert [FindingEventKind.NEW] == [e.event for e in store.finding_history(f1.id)]
        assert [FindingEventKind.NEW, FindingEventKind.CHANGED] == [
            e.event for e in store.finding_history(f2.id)
        ]
        assert [FindingEventKind.NEW, FindingEventKind.RESOLVED] == [
            e.event for e in store.finding_history(f3.id)
        ]
        opened = store.open_findings()
        assert {f1.id, f2.id} == set(opened)
        assert (f1.last_seen, 3) == (opened[f1.id].last_seen, opened[f1.id].consecutive_cycles)
        assert (f2.last_seen, 2) == (opened[f2.id].last_seen, opened[f2.id].consecutive_cycles)

        # the next cycle observes f1 unchanged: one rewrite (no content hash before 0004),
        # then none
        for n in (4, 5):
            t = tracked(instance(1), first=_at(1), last=_at(n), cycles=n)
            store.commit_cycle(
                CycleRecord(
                    snapshot=snapshot(f"c{n}", (instance(1),), at=_at(n)),
                    evaluation=Evaluation(f"c{n}", _at(n), (t.finding,), ()),
                    tracked=(t,),
                    seen_at=_at(n),
                )
            )
            assert (_at(n), n) == (
                store.open_findings()[f1.id].last_seen,
                store.open_findings()[f1.id].consecutive_cycles,
            )
        with store.engine.connect() as conn:
            written = conn.scalar(
                sa.text("SELECT seen_ordinal FROM findings WHERE id = :i"), {"i": f1.id}
            )
        assert 4 == written
        assert [FindingEventKind.NEW] == [e.event for e in store.finding_history(f1.id)]
    finally:
        store.close()

"""Contract: the schema comes from Alembic; retention forgets history but never the present."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from auditor.store import CycleRecord, PruneResult, SnapshotNotFoundError, Store, StoreError
from tests.store.builders import T0, instance, snapshot, tracked

DAY = timedelta(days=1)


def test_migration_from_empty_database_reaches_head(store_url: str) -> None:
    """Opening an empty database creates every table at the head revision; reopening is a no-op."""
    untouched = Store.open(store_url, migrate=False)
    assert sa.inspect(untouched.engine).get_table_names() == []
    untouched.close()

    for _ in range(2):
        store = Store.open(store_url)
        with store.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == "0003_report_chain"
        store.close()


def test_tables_match_the_migrations(store: Store) -> None:
    """The SQLModel tables and the migrated schema agree (no change left out of a migration)."""
    import auditor.store.tables
    import auditor.store.tokens
    import auditor.store.webapp_tables  # noqa: F401

    with store.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )

    store_tables = {t for t in SQLModel.metadata.tables if t in _STORE_TABLES}
    assert store_tables == _STORE_TABLES
    assert [d for d in diff if _is_store_change(d)] == []


_STORE_TABLES = {
    "cycles",
    "snapshot_observations",
    "resource_configs",
    "resource_versions",
    "findings",
    "finding_events",
    "actions",
    "outbox",
    "leases",
    "api_tokens",
    "exemption_requests",
    "remediation_approvals",
    "audit_log",
}


def _is_store_change(diff: object) -> bool:
    text = repr(diff)
    return any(f"'{name}'" in text for name in _STORE_TABLES)


def test_unreachable_database_is_a_clear_error_without_password() -> None:
    """A store that cannot be reached fails with StoreError naming the URL, never the password."""
    with pytest.raises(StoreError) as raised:
        Store.open("postgresql+psycopg://auditor:hunter2@127.0.0.1:1/nothing?connect_timeout=2")

    assert "hunter2" not in str(raised.value)
    assert "127.0.0.1:1/nothing" in str(raised.value)


def test_ping_tells_whether_the_store_answers(store: Store) -> None:
    """ping is true while the database answers and false once the store is unreachable."""
    assert store.ping()
    broken = Store.open("postgresql+psycopg://x@127.0.0.1:1/none?connect_timeout=2", migrate=False)
    assert not broken.ping()


def test_prune_keeps_latest_and_baselines(store: Store) -> None:
    """Old cycles, superseded versions and their events go; the latest and baselines stay."""
    a, b, c = instance(1), instance(2), instance(3)
    c1 = snapshot("c1", (a, b, c), at=T0)
    c2_res = (
        instance(1, at=T0 + DAY, ImageId="ami-2"),
        instance(3, at=T0 + DAY, ImageId="ami-2"),
    )
    c3_res = (
        instance(1, at=T0 + 2 * DAY, ImageId="ami-2"),
        instance(3, at=T0 + 2 * DAY, ImageId="ami-3"),
    )
    f_open = tracked(a, first=T0, last=T0, cycles=1)
    f_gone = tracked(b, first=T0, last=T0, cycles=1)
    store.commit_cycle(CycleRecord(snapshot=c1, evaluation=None, tracked=(f_open, f_gone)))
    store.commit_cycle(
        CycleRecord(
            snapshot=snapshot("c2", c2_res, at=T0 + DAY),
            evaluation=None,
            tracked=(replace(f_gone, resolved_at=T0 + DAY),),
        )
    )
    latest = snapshot("c3", c3_res, at=T0 + 2 * DAY)
    store.commit_cycle(CycleRecord(snapshot=latest, evaluation=None, tracked=()))

    result = store.prune(older_than=T0 + 2 * DAY)

    expected = PruneResult(
        cycles=2, resource_versions=1, resource_configs=1, finding_events=3, findings=1
    )
    assert expected == result
    assert latest == store.latest_snapshot()
    assert {a.arn: a, b.arn: b, c.arn: c} == {
        arn: v.resource for arn, v in store.baselines([a.arn, b.arn, c.arn]).items()
    }
    assert [v.resource.attributes["ImageId"] for v in store.resource_versions(c.arn)] == [
        "ami-0123456789abcdef0",
        "ami-3",
    ]
    assert [f_open.id] == list(store.open_findings())
    with pytest.raises(SnapshotNotFoundError):
        store.load_snapshot("c1")


def test_prune_never_removes_the_latest_cycle(store: Store) -> None:
    """Even when every cycle is older than the cutoff, the latest snapshot survives."""
    first, last = snapshot("c1", (instance(1),)), snapshot("c2", (instance(2),), at=T0 + DAY)
    store.commit_cycle(CycleRecord(snapshot=first, evaluation=None, tracked=()))
    store.commit_cycle(CycleRecord(snapshot=last, evaluation=None, tracked=()))

    result = store.prune(older_than=T0 + 30 * DAY)

    assert result.cycles == 1
    assert last == store.latest_snapshot()
    assert PruneResult() == store.prune(older_than=T0 + 30 * DAY)

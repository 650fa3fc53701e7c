"""The persistent image content cache (migration 0008): upgrade, downgrade, insert-if-absent.

Against SQLite and the real PostgreSQL alike (tests/store/conftest.py).
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from auditor.store import CycleRecord, Store
from auditor.store.engine import MIGRATIONS, migrate
from tests.store.builders import T0, alembic_head, snapshot

BEFORE = "0003_report_chain"
DIGEST = "sha256:" + "ab" * 32
CONTENT = {"configDigest": "sha256:" + "cd" * 32, "secrets": [], "layers": {"scanned": False}}


def _downgrade(engine: sa.Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn, conn.begin():
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def _state(engine: sa.Engine) -> tuple[str | None, bool]:
    with engine.connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
        return revision, sa.inspect(conn).has_table("image_content")


def test_migration_adds_and_removes_the_image_content_table(store_url: str) -> None:
    """Upgrade from the revision before: the table appears (and works); downgrade: it is
    gone and the revision is back; upgrade again: it is back, empty."""
    old = Store.open(store_url, migrate=False)
    try:
        migrate(old.engine, BEFORE)
        assert (BEFORE, False) == _state(old.engine)
    finally:
        old.close()
    store = Store.open(store_url)
    try:
        assert (alembic_head(), True) == _state(store.engine)
        record = CycleRecord(
            snapshot("c1", ()), None, (), image_contents=((DIGEST, "v1/config", CONTENT),)
        )
        store.commit_cycle(record)
        assert {DIGEST: [("v1/config", CONTENT)]} == store.image_contents([DIGEST])
        _downgrade(store.engine, BEFORE)
        assert (BEFORE, False) == _state(store.engine)
        migrate(store.engine)
        assert (alembic_head(), True) == _state(store.engine)
        assert {} == store.image_contents([DIGEST])
    finally:
        store.close()


def _rows(store: Store) -> list[tuple[str, str, object]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT digest, scope, first_read_at FROM image_content ORDER BY 1, 2")
        )
        return [(str(d), str(s), t) for d, s, t in rows]


def test_an_entry_is_inserted_once_and_never_rewritten(store: Store) -> None:
    """The same (digest, scope) committed again adds nothing and keeps the first read; a new
    scope of the same digest is a row of its own; lookup answers the widest scope first."""
    layered = {**CONTENT, "layers": {"scanned": True, "complete": True}}
    store.commit_cycle(
        CycleRecord(snapshot("c1", ()), None, (), image_contents=((DIGEST, "v1/config", CONTENT),))
    )
    first = _rows(store)
    assert [DIGEST] == [d for d, _s, _t in first]
    again = ((DIGEST, "v1/config", {**CONTENT, "secrets": ["changed"]}),)
    later = snapshot("c2", (), at=T0 + timedelta(hours=1))
    store.commit_cycle(CycleRecord(later, None, (), image_contents=again))
    assert first == _rows(store)
    both = ((DIGEST, "v1/config", CONTENT), (DIGEST, "v1/layers", layered))
    last = snapshot("c3", (), at=T0 + timedelta(hours=2))
    store.commit_cycle(CycleRecord(last, None, (), image_contents=both))
    assert [("v1/config"), ("v1/layers")] == [s for _d, s, _t in _rows(store)]
    assert {DIGEST: [("v1/layers", layered), ("v1/config", CONTENT)]} == store.image_contents(
        [DIGEST, "sha256:" + "00" * 32]
    )

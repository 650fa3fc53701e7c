"""Engines for the two supported databases, and running the Alembic migrations.

SQLite: WAL (readers never block the writer), foreign keys on, and transactions begun
explicitly (pysqlite's implicit ones would let a cycle read outside its transaction); a
writing transaction is BEGIN IMMEDIATE so two writers queue instead of dead-locking.
PostgreSQL: the psycopg 3 driver; concurrent migrations serialise on an advisory lock.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from auditor.errors import AuditorError

if TYPE_CHECKING:  # imported where a PostgreSQL store uses it: SQLite scans skip it
    from sqlalchemy.dialects import postgresql

MIGRATIONS = Path(__file__).parent / "migrations"
WRITE = {"auditor_write": True}  # execution option: this transaction writes
_MIGRATION_LOCK_ID = 0x61756469746F72  # "auditor"


class StoreError(AuditorError):
    """The store cannot be opened, or holds something it cannot read."""


def dialect_of(url: str) -> str:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"bad store URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return "sqlite"
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", "psycopg2", ""):
            raise StoreError("PostgreSQL store URLs use psycopg 3: postgresql+psycopg://...")
        return "postgresql"
    raise StoreError(f"unsupported store {backend!r}: use sqlite:///PATH or postgresql+psycopg://")


def make_engine(url: str) -> sa.Engine:
    dialect = dialect_of(url)
    if dialect == "sqlite":
        engine = sa.create_engine(url)
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    parsed = sa.make_url(url)
    if parsed.get_driver_name() != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed, pool_pre_ping=True)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see _sqlite_on_begin
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: sa.Connection) -> None:
    writes = conn.get_execution_options().get("auditor_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def safe_url(url: str) -> str:
    """The URL without its password: for messages and logs."""
    return sa.make_url(url).render_as_string(hide_password=True)


_REVISION = re.compile(r"^(down_)?revision(?::[^=]*)?=\s*(?:\"([^\"]*)\"|None)", re.MULTILINE)


@cache
def head_revision() -> str | None:
    """The newest migration's id, read from the version files (no Alembic import): the one
    revision no other revision names as its down_revision."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for down, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            if value:
                (parents if down else revisions).add(value)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def at_head(engine: sa.Engine) -> bool:
    """True when the database is already at the head revision: opening the store then needs
    neither Alembic nor a write transaction (most starts of a scan)."""
    head = head_revision()
    if head is None:
        return False
    try:
        with engine.connect() as conn, conn.begin():
            if not sa.inspect(conn).has_table("alembic_version"):
                return False
            found = conn.scalars(sa.text("SELECT version_num FROM alembic_version")).all()
    except sa.exc.OperationalError:
        return False
    return list(found) == [head]


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` in one transaction (Alembic, from the installed package)."""
    if revision == "head" and at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def insert_for(conn: sa.Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ON CONFLICT on this connection's dialect."""
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise StoreError(f"unsupported database dialect {name!r}")


def is_in(
    conn: sa.Connection, column: sa.ColumnElement[Any], values: Sequence[Any]
) -> sa.ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `IN (SELECT unnest(array))`: one parameter.

    A 500-parameter IN list is slow to send and plan through psycopg, and `= ANY(array)`
    degrades to a linear search per row when the planner has no statistics yet (a table
    filled in the same transaction); a semi-join against the unnested array does neither.
    """
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        array = sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column.in_(sa.select(sa.func.unnest(array)))
    return column.in_(values)

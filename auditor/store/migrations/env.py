"""Alembic environment: runs on the connection the store hands over (no alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import auditor.store.tables  # noqa: F401  (registers the tables for autogenerate)
from auditor.store.tokens import ApiTokenRow  # noqa: F401  (the api_tokens table)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through auditor.store (Store.open or store.engine.migrate)")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

"""Connections for routes: a read transaction, or a write transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from auditor.api.context import AppContext
from auditor.store.engine import WRITE


@contextmanager
def reading(ctx: AppContext) -> Iterator[sa.Connection]:
    with ctx.store.engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def writing(ctx: AppContext) -> Iterator[sa.Connection]:
    with ctx.store.engine.connect().execution_options(**WRITE) as conn, conn.begin():
        yield conn

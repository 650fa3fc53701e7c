"""The state of record of distributed collection units (PostgreSQL only).

Every transition is one conditional UPDATE, so concurrent workers and the leader cannot
both win: a unit is claimed only while `queued`, finished only by the worker holding it
while it is `running`, and expired or handed back only by the leader. Times are the
database's (`now()`), so clocks of workers and leader need not agree.

    queued/waiting --claim--> running --finish--> done | failed
    running --lease lapsed (worker gone)--> queued (again) or expired (too many deliveries)
    queued/running --deadline or no worker--> expired
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from auditor.store.engine import WRITE
from auditor.store.tables import WorkUnitRow, table

UNITS = table(WorkUnitRow)
TERMINAL = ("done", "failed", "expired")
KEEP_ROWS = timedelta(days=2)

UnitKey = tuple[str, str, str]  # (account, region, service)


@dataclass(frozen=True, slots=True)
class UnitResult:
    key: UnitKey
    state: str
    result: bytes | None
    duration_seconds: float
    api_calls: dict[str, int]
    retries: int
    throttles: int
    error: str | None
    deliveries: int = 0


@dataclass(frozen=True, slots=True)
class UnitFinish:
    state: str  # done | failed
    result: bytes | None
    duration_seconds: float
    api_calls: dict[str, int]
    retries: int
    throttles: int
    error: str | None = None


def _key(account: str, region: str, service: str) -> sa.ColumnElement[bool]:
    return sa.and_(UNITS.c.account == account, UNITS.c.region == region, UNITS.c.service == service)


def _keys(rows: Sequence[Any]) -> list[UnitKey]:
    return [(r.account, r.region, r.service) for r in rows]


def _seconds(n: float) -> Any:
    return sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, n)


def _same_unit() -> sa.ColumnElement[bool]:
    """The unit named by the bound parameters `b_cycle`, `b_account`, `b_region`, `b_service`."""
    return sa.and_(
        UNITS.c.cycle_id == sa.bindparam("b_cycle"),
        UNITS.c.account == sa.bindparam("b_account"),
        UNITS.c.region == sa.bindparam("b_region"),
        UNITS.c.service == sa.bindparam("b_service"),
    )


def _bound_seconds(name: str) -> Any:
    return sa.func.now() + sa.func.make_interval(
        0, 0, 0, 0, 0, 0, sa.bindparam(name, type_=sa.Float)
    )


# A worker's two statements per unit, built once (they run for every unit of every cycle)
_CLAIM = (
    UNITS.update()
    .where(_same_unit(), UNITS.c.state == "queued")
    .values(
        state="running",
        worker=sa.bindparam("b_worker"),
        deliveries=UNITS.c.deliveries + 1,
        started_at=sa.func.coalesce(UNITS.c.started_at, sa.func.now()),
        deadline_at=sa.func.coalesce(UNITS.c.deadline_at, _bound_seconds("b_timeout")),
        lease_until=_bound_seconds("b_lease"),
    )
    .returning(UNITS.c.deliveries)
)
_FINISH = (
    UNITS.update()
    .where(_same_unit(), UNITS.c.state == "running", UNITS.c.worker == sa.bindparam("b_worker"))
    .values(
        state=sa.bindparam("b_state"),
        result=sa.bindparam("b_result"),
        duration_seconds=sa.bindparam("b_duration"),
        api_calls=sa.bindparam("b_calls", type_=UNITS.c.api_calls.type),
        retries=sa.bindparam("b_retries"),
        throttles=sa.bindparam("b_throttles"),
        error=sa.bindparam("b_error"),
        finished_at=sa.func.now(),
        lease_until=None,
    )
)


def _unit_params(cycle_id: str, key: UnitKey, worker: str) -> dict[str, Any]:
    account, region, service = key
    return {
        "b_cycle": cycle_id,
        "b_account": account,
        "b_region": region,
        "b_service": service,
        "b_worker": worker,
    }


class WorkUnits:
    """Units of distributed cycles, in the shared store."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        with self._engine.connect().execution_options(**WRITE) as conn, conn.begin():
            yield conn

    @contextmanager
    def _one(self) -> Iterator[sa.Connection]:
        """For one statement, atomic by itself: no BEGIN and COMMIT round trips."""
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn

    # -- leader -----------------------------------------------------------------------------
    def enqueue(self, cycle_id: str, units: Sequence[tuple[UnitKey, str]]) -> None:
        """Insert the cycle's units (state `queued` or `waiting`); forget old cycles' rows."""
        with self._tx() as conn:
            conn.execute(UNITS.delete().where(UNITS.c.enqueued_at < sa.func.now() - KEEP_ROWS))
            if units:
                conn.execute(
                    UNITS.insert(),
                    [
                        {
                            "cycle_id": cycle_id,
                            "account": a,
                            "region": r,
                            "service": s,
                            "state": state,
                            "deliveries": 0,
                            "retries": 0,
                            "throttles": 0,
                        }
                        for (a, r, s), state in units
                    ],
                )
                conn.execute(
                    UNITS.update()
                    .where(UNITS.c.cycle_id == cycle_id)
                    .values(enqueued_at=sa.func.now())
                )

    def release(self, cycle_id: str, key: UnitKey) -> bool:
        """A waiting unit becomes queued (its ECS unit is over)."""
        with self._tx() as conn:
            stmt = (
                UNITS.update()
                .where(UNITS.c.cycle_id == cycle_id, _key(*key), UNITS.c.state == "waiting")
                .values(state="queued")
            )
            return conn.execute(stmt).rowcount == 1

    def progress(self, cycle_id: str) -> tuple[int, int, int]:
        """(running, finished, deliveries) of the cycle: changes whenever a unit moves."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(
                    sa.func.count().filter(UNITS.c.state == "running"),
                    sa.func.count().filter(UNITS.c.state.in_(TERMINAL)),
                    sa.func.coalesce(sa.func.sum(UNITS.c.deliveries), 0),
                ).where(UNITS.c.cycle_id == cycle_id)
            ).one()
        return int(row[0]), int(row[1]), int(row[2])

    def take_finished(self, cycle_id: str) -> list[UnitResult]:
        """Finished units not taken yet, with their results; marked taken, bytes dropped
        (the snapshot holds them from now on)."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(UNITS).where(
                    UNITS.c.cycle_id == cycle_id,
                    UNITS.c.state.in_(TERMINAL),
                    UNITS.c.reported.is_(False),
                )
            ).all()
            if rows:
                conn.execute(
                    UNITS.update()
                    .where(
                        UNITS.c.cycle_id == cycle_id,
                        UNITS.c.state.in_(TERMINAL),
                        UNITS.c.reported.is_(False),
                        sa.tuple_(UNITS.c.account, UNITS.c.region, UNITS.c.service).in_(
                            [(r.account, r.region, r.service) for r in rows]
                        ),
                    )
                    .values(reported=True, result=None)
                )
        return [
            UnitResult(
                key=(r.account, r.region, r.service),
                state=r.state,
                result=r.result,
                duration_seconds=float(r.duration_seconds or 0.0),
                api_calls=dict(r.api_calls or {}),
                retries=int(r.retries),
                throttles=int(r.throttles),
                error=r.error,
                deliveries=int(r.deliveries),
            )
            for r in rows
        ]

    def expire_overdue(self, cycle_id: str) -> list[UnitKey]:
        """Running units past their deadline: expired (the leader records their gaps)."""
        with self._tx() as conn:
            rows = conn.execute(
                UNITS.update()
                .where(
                    UNITS.c.cycle_id == cycle_id,
                    UNITS.c.state == "running",
                    UNITS.c.deadline_at < sa.func.now(),
                )
                .values(state="expired", error="UnitTimeout", finished_at=sa.func.now())
                .returning(UNITS.c.account, UNITS.c.region, UNITS.c.service)
            ).all()
        return _keys(rows)

    def reclaim_lost(
        self, cycle_id: str, max_deliveries: int
    ) -> tuple[list[UnitKey], list[UnitKey]]:
        """Running units whose worker stopped renewing its lease (killed, partitioned):
        queued again to be sent once more, or expired after `max_deliveries`."""
        lapsed = sa.and_(
            UNITS.c.cycle_id == cycle_id,
            UNITS.c.state == "running",
            UNITS.c.lease_until < sa.func.now(),
        )
        with self._tx() as conn:
            gone = conn.execute(
                UNITS.update()
                .where(lapsed, UNITS.c.deliveries >= max_deliveries)
                .values(state="expired", error="WorkerLost", finished_at=sa.func.now())
                .returning(UNITS.c.account, UNITS.c.region, UNITS.c.service)
            ).all()
            again = conn.execute(
                UNITS.update()
                .where(lapsed)
                .values(state="queued", worker=None, lease_until=None)
                .returning(UNITS.c.account, UNITS.c.region, UNITS.c.service)
            ).all()
        return _keys(again), _keys(gone)

    def expire_pending(self, cycle_id: str, error: str) -> list[UnitKey]:
        """Units no worker took: expired with `error`."""
        return self._expire(cycle_id, error, None)

    def expire_units(self, cycle_id: str, keys: Sequence[UnitKey], error: str) -> list[UnitKey]:
        """These queued or waiting units (e.g. not sent: broker down): expired with `error`."""
        return self._expire(cycle_id, error, keys)

    def _expire(self, cycle_id: str, error: str, keys: Sequence[UnitKey] | None) -> list[UnitKey]:
        expired: list[UnitKey] = []
        with self._tx() as conn:
            pending = sa.and_(
                UNITS.c.cycle_id == cycle_id, UNITS.c.state.in_(("queued", "waiting"))
            )
            stmt = UNITS.update().values(state="expired", error=error, finished_at=sa.func.now())
            returning = (UNITS.c.account, UNITS.c.region, UNITS.c.service)
            if keys is None:
                expired = _keys(conn.execute(stmt.where(pending).returning(*returning)).all())
            else:
                for key in keys:
                    rows = conn.execute(stmt.where(pending, _key(*key)).returning(*returning))
                    expired.extend(_keys(rows.all()))
        return expired

    # -- worker -----------------------------------------------------------------------------
    def claim(
        self, cycle_id: str, key: UnitKey, worker: str, lease_seconds: float, timeout_seconds: float
    ) -> int | None:
        """Take a queued unit; its delivery number, or None (done, expired, taken, unknown)."""
        params = {
            **_unit_params(cycle_id, key, worker),
            "b_lease": float(lease_seconds),
            "b_timeout": float(timeout_seconds),
        }
        with self._one() as conn:
            row = conn.execute(_CLAIM, params).first()
        return int(row.deliveries) if row is not None else None

    def renew(self, worker: str, lease_seconds: float) -> int:
        """Extend the lease of every unit this worker is running (its heartbeat)."""
        with self._tx() as conn:
            return int(
                conn.execute(
                    UNITS.update()
                    .where(UNITS.c.worker == worker, UNITS.c.state == "running")
                    .values(lease_until=_seconds(lease_seconds))
                ).rowcount
            )

    def finish(self, cycle_id: str, key: UnitKey, worker: str, outcome: UnitFinish) -> bool:
        """Write the unit's result, once: only while this worker still holds it."""
        params = {
            **_unit_params(cycle_id, key, worker),
            "b_state": outcome.state,
            "b_result": outcome.result,
            "b_duration": outcome.duration_seconds,
            "b_calls": outcome.api_calls,
            "b_retries": outcome.retries,
            "b_throttles": outcome.throttles,
            "b_error": outcome.error,
        }
        with self._one() as conn:
            return conn.execute(_FINISH, params).rowcount == 1

    def now(self) -> datetime:
        with self._tx() as conn:
            value: datetime = conn.execute(sa.select(sa.func.now())).scalar_one()
            return value

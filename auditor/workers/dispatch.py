"""The leader's side: enqueue a cycle's units, wait on their rows, fail closed.

Rows in PostgreSQL are the state of record; Celery messages only wake workers. The wait
is bounded three ways, so a cycle always completes:
- a running unit past its deadline (`unit_timeout_seconds` from its first start) is
  expired: a gap for exactly that (account, region, service);
- a running unit whose worker stopped renewing its lease (killed, partitioned) is sent
  again, up to `max_deliveries`, then expired;
- when no unit of the cycle started or finished for `unit_timeout_seconds` (no worker is
  consuming the queue), the units still queued are expired.
A message the broker would not take makes its unit a gap at once (BrokerUnavailable).
ECR units wait for the ECS unit of their account and region, whose result names the
images ECR must resolve.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence

import structlog
from celery import Celery

from auditor.collect.base import CollectResult, PreviousState
from auditor.collect.units import (
    Executed,
    ProgressCallback,
    Unit,
    UnitDone,
    unit_gap,
)
from auditor.model import Service
from auditor.settings import Settings
from auditor.store import Store
from auditor.store.work_units import UnitKey, UnitResult
from auditor.workers.app import TASK_NAME, make_app
from auditor.workers.codec import UnitMessage, decode_result, encode_message
from auditor.workers.redis_state import AccountCache

log = structlog.get_logger("auditor.dispatch")

_GAP_MESSAGES = {
    "UnitTimeout": "not finished by its deadline ({timeout}s, workers.unit_timeout_seconds)",
    "WorkerLost": "its worker was lost {deliveries} time(s) (workers.max_deliveries)",
    "NoWorker": "no worker took it within {timeout}s (is any `auditor worker` running?)",
    "BrokerUnavailable": "the broker did not accept it ({broker})",
}


def _key(unit: Unit) -> UnitKey:
    return (unit.account, unit.region, unit.service.value)


class DistributedExecutor:
    """Runs a cycle's units on `auditor worker` processes (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        app: Celery | None = None,
        poll_seconds: float = 0.25,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = settings.workers
        self._units = store.work_units()
        self._app = app or make_app(self._config)
        self._poll = poll_seconds
        self._monotonic = monotonic
        self._sleep = sleep
        self.accounts_cache = AccountCache(self._config)

    def execute(
        self,
        cycle_id: str,
        units: Sequence[Unit],
        previous: PreviousState,
        progress: ProgressCallback | None,
    ) -> Executed:
        return _Cycle(self, cycle_id, units, previous, progress).run()


class _Cycle:
    """One cycle's dispatch and wait."""

    def __init__(
        self,
        owner: DistributedExecutor,
        cycle_id: str,
        units: Sequence[Unit],
        previous: PreviousState,
        progress: ProgressCallback | None,
    ) -> None:
        self.o = owner
        self.cycle_id = cycle_id
        self.units = {_key(u): u for u in units}
        self.order = [_key(u) for u in units]
        self.previous = previous
        self.progress = progress
        self.results: dict[UnitKey, CollectResult] = {}
        self.remote_calls: Counter[str] = Counter()
        self.refs: dict[UnitKey, tuple[str, ...]] = {}
        cells_with_ecs = {(u.account, u.region) for u in units if u.service is Service.ECS}
        self.waits_for_ecs = {
            k
            for k, u in self.units.items()
            if u.service is Service.ECR and (u.account, u.region) in cells_with_ecs
        }
        self.broker_down = False

    # -- sending ----------------------------------------------------------------------------
    def send(self, keys: Sequence[UnitKey]) -> None:
        unsent: list[UnitKey] = []
        for key in keys:
            if self.broker_down:
                unsent.append(key)
                continue
            unit = self.units[key]
            message = UnitMessage(
                self.cycle_id,
                unit,
                self.refs.get(key, ()),
                self.previous.for_cell(unit.account, unit.region, unit.service),
            )
            try:
                self.o._app.send_task(
                    TASK_NAME,
                    args=[encode_message(message)],
                    queue=self.o._config.queue,
                    retry=True,
                )
            except Exception as exc:  # kombu OperationalError, redis errors, timeouts
                log.error("broker_unavailable", error=type(exc).__name__, detail=str(exc)[:200])
                self.broker_down = True
                unsent.append(key)
        if unsent:
            self.o._units.expire_units(self.cycle_id, unsent, "BrokerUnavailable")

    # -- results ----------------------------------------------------------------------------
    def gap_result(self, row: UnitResult, key: UnitKey) -> CollectResult:
        unit = self.units[key]
        code = row.error or "WorkerFailed"
        template = _GAP_MESSAGES.get(code, "the worker failed ({code})")
        message = template.format(
            timeout=self.o._config.unit_timeout_seconds,
            deliveries=row.deliveries,
            broker=_safe_broker(self.o._config.broker or ""),
            code=code,
        )
        return CollectResult(gaps=(unit_gap(unit, "auditor:collect_unit", code, message),))

    def take(self, row: UnitResult) -> None:
        key = row.key
        unit = self.units[key]
        if row.state == "done" and row.result is not None:
            result = decode_result(row.result)
            outcome = "done"
        else:
            result = self.gap_result(row, key)
            outcome = {
                "UnitTimeout": "timeout",
                "WorkerLost": "lost",
                "NoWorker": "no_worker",
                "BrokerUnavailable": "broker_unavailable",
            }.get(row.error or "", "failed")
        self.results[key] = result
        self.remote_calls.update(row.api_calls)
        if self.progress is not None:
            self.progress(
                UnitDone(
                    account=unit.account,
                    region=unit.region,
                    service=unit.service,
                    resources=len(result.resources),
                    gaps=len(result.gaps),
                    duration_seconds=row.duration_seconds,
                    api_calls=sum(row.api_calls.values()),
                    retries=row.retries,
                    throttles=row.throttles,
                    outcome=outcome,
                )
            )
        if unit.service is Service.ECS:
            self.release_ecr(unit, result)

    def release_ecr(self, ecs: Unit, result: CollectResult) -> None:
        from auditor.collect.ecs import image_refs

        key = (ecs.account, ecs.region, Service.ECR.value)
        if key in self.waits_for_ecs:
            self.refs[key] = image_refs(result.resources)
            if self.o._units.release(self.cycle_id, key):
                self.send([key])

    # -- the wait ---------------------------------------------------------------------------
    def run(self) -> Executed:
        config = self.o._config
        self.o._units.enqueue(
            self.cycle_id,
            [(k, "waiting" if k in self.waits_for_ecs else "queued") for k in self.order],
        )
        log.info("dispatch", cycle_id=self.cycle_id, units=len(self.order), queue=config.queue)
        self.send([k for k in self.order if k not in self.waits_for_ecs])
        seen = (-1, -1, -1)
        last_change = self.o._monotonic()
        while len(self.results) < len(self.order):
            now = self.o._monotonic()
            moved = self.o._units.progress(self.cycle_id)
            if moved != seen:
                seen, last_change = moved, now
            for row in self.o._units.take_finished(self.cycle_id):
                self.take(row)
            if len(self.results) >= len(self.order):
                break
            again, _gone = self.o._units.reclaim_lost(self.cycle_id, config.max_deliveries)
            if again:
                log.warning("units_redelivered", cycle_id=self.cycle_id, units=len(again))
                self.send(again)
            self.o._units.expire_overdue(self.cycle_id)
            if now - last_change > config.unit_timeout_seconds:
                stalled = self.o._units.expire_pending(self.cycle_id, "NoWorker")
                if stalled:
                    log.error("no_worker", cycle_id=self.cycle_id, units=len(stalled))
                last_change = now
            self.o._sleep(self.o._poll)
        return Executed(
            [(self.units[k], self.results[k]) for k in self.order], dict(self.remote_calls)
        )


def _safe_broker(url: str) -> str:
    """The broker URL without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"

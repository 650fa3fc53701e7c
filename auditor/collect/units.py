"""The unit of collection work, and the in-process way of running a cycle's units.

A unit is one (account, region, service). `run_unit` collects one, in-process or on a
distributed worker alike, and never raises: what it could not read is a gap. An executor
runs a cycle's units and reports each as it finishes; `InProcessExecutor` uses a thread pool
(boto3 clients are thread-safe; adaptive retry mode paces each client), and
`auditor.workers.dispatch.DistributedExecutor` hands them to Celery workers. ECR runs after
ECS of the same account and region, because it resolves the images that ECS tasks run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from auditor.aws import (
    AwsSessions,
    Target,
    acting_for,
    deadline,
    error_code,
    error_message,
    tally_calls,
)
from auditor.collect.base import AWS_ERRORS, Collector, CollectResult, PreviousState, UnitContext
from auditor.model import KIND_SERVICE, Clock, CollectionGap, Kind, Service

log = structlog.get_logger(__name__)

DEADLINE_CODE = "DeadlineExceeded"


@dataclass(frozen=True, slots=True)
class Unit:
    target: Target
    region: str
    service: Service

    @property
    def account(self) -> str:
        return self.target.account_id


@dataclass(frozen=True, slots=True)
class UnitDone:
    """One finished unit, as progress displays and per-unit metrics see it."""

    account: str
    region: str
    service: Service
    resources: int
    gaps: int
    duration_seconds: float = 0.0
    api_calls: int = 0
    retries: int = 0
    throttles: int = 0
    outcome: str = "done"  # done | timeout | lost | broker_unavailable | failed


ProgressCallback = Callable[[UnitDone], None]


@dataclass(frozen=True, slots=True)
class UnitRun:
    """A unit's result and what it cost."""

    result: CollectResult
    duration_seconds: float = 0.0
    api_calls: Mapping[str, int] = field(default_factory=dict)
    retries: int = 0
    throttles: int = 0


@dataclass(frozen=True, slots=True)
class Executed:
    """Every unit's result, and the AWS calls made outside this process (by workers)."""

    results: Sequence[tuple[Unit, CollectResult]]
    remote_api_calls: Mapping[str, int] = field(default_factory=dict)


class UnitExecutor(Protocol):
    """Runs the units of one cycle; never raises for a unit: a unit it could not run is a
    gap for exactly that unit. `accounts_cache`: where the account list of an organization
    is kept between cycles (None: asked every cycle)."""

    @property
    def accounts_cache(self) -> AccountListCache | None: ...

    def execute(
        self,
        cycle_id: str,
        units: Sequence[Unit],
        previous: PreviousState,
        progress: ProgressCallback | None,
    ) -> Executed: ...


def kinds_of(service: Service) -> tuple[Kind, ...]:
    return tuple(k for k, s in KIND_SERVICE.items() if s is service)


def unit_gap(unit: Unit, operation: str, code: str, message: str) -> CollectionGap:
    """A gap over everything one unit should have read."""
    return CollectionGap(
        account=unit.account,
        region=unit.region,
        service=unit.service,
        kinds=kinds_of(unit.service),
        operation=operation,
        error_code=code,
        message=message,
    )


def run_unit(
    unit: Unit,
    sessions: AwsSessions,
    clock: Clock,
    previous: PreviousState,
    registry: Mapping[Service, Collector],
    image_refs: tuple[str, ...] = (),
    *,
    expires: float | None = None,
) -> UnitRun:
    """Collect one unit. Never raises: an error is a gap for this unit. With `expires`
    (`time.monotonic()`), every request past it is refused (DeadlineExceeded, a gap)."""
    began = time.perf_counter()

    def client(name: str) -> object:
        return sessions.client(unit.target, name, unit.region)

    ctx = UnitContext(
        unit.account, unit.region, client, clock, previous, image_refs, sessions.counter.record
    )
    with tally_calls() as tally, acting_for(unit.target):
        try:
            with deadline(expires):
                result = registry[unit.service](ctx)
        except AWS_ERRORS as exc:  # assume-role failure surfaces on the first client call
            gap = unit_gap(unit, "sts:AssumeRole", error_code(exc), error_message(exc))
            result = CollectResult(gaps=(gap,))
        except Exception as exc:  # a collector bug must be a gap, never a silent pass
            log.exception(
                "collector_failed", account=unit.account, region=unit.region, service=unit.service
            )
            operation = f"{unit.service.value}:collect"
            gap = unit_gap(unit, operation, error_code(exc), error_message(exc))
            result = CollectResult(gaps=(gap,))
    return UnitRun(
        result=result,
        duration_seconds=time.perf_counter() - began,
        api_calls=dict(tally.calls),
        retries=tally.retries,
        throttles=tally.throttles,
    )


def done_event(unit: Unit, run: UnitRun, outcome: str = "done") -> UnitDone:
    return UnitDone(
        account=unit.account,
        region=unit.region,
        service=unit.service,
        resources=len(run.result.resources),
        gaps=len(run.result.gaps),
        duration_seconds=run.duration_seconds,
        api_calls=sum(run.api_calls.values()),
        retries=run.retries,
        throttles=run.throttles,
        outcome=outcome,
    )


class AccountListCache(Protocol):
    """Where the leader keeps the Organizations account list between cycles."""

    def get(self, key: str) -> list[str] | None: ...

    def put(self, key: str, accounts: list[str], ttl_seconds: int) -> None: ...


@dataclass(eq=False)
class _InFlight:
    """One unit in this process: its deadline starts when it starts."""

    unit: Unit
    future: Future[UnitRun] | None = None
    started: float | None = None
    expires: float = 0.0

    def start(self, unit_seconds: float, cycle_ends: float) -> None:
        if self.started is None:
            self.started = time.monotonic()
            self.expires = min(cycle_ends, self.started + unit_seconds)


class InProcessExecutor:
    """The units of a cycle on a thread pool of `concurrency` threads, in this process.

    Every unit has `unit_seconds` from its start, and all of them end by `cycle_ends`
    (`time.monotonic()`; None: `unit_seconds` from the start of `execute`). A unit not done
    by its deadline is a gap over its (account, region, service) and its late result is
    dropped; its requests are refused past the deadline (see `auditor.aws.deadline`).
    """

    accounts_cache: AccountListCache | None = None

    def __init__(
        self,
        sessions: AwsSessions,
        clock: Clock,
        registry: Mapping[Service, Collector],
        concurrency: int,
        *,
        unit_seconds: float = math.inf,
        cycle_ends: float | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._registry = registry
        self._concurrency = concurrency
        self._unit_seconds = unit_seconds
        self._cycle_ends = cycle_ends

    def execute(
        self,
        cycle_id: str,
        units: Sequence[Unit],
        previous: PreviousState,
        progress: ProgressCallback | None,
    ) -> Executed:
        from auditor.collect.ecs import image_refs

        unit_seconds = self._unit_seconds
        cycle_ends = (
            self._cycle_ends if self._cycle_ends is not None else time.monotonic() + unit_seconds
        )

        def run(flight: _InFlight, refs: tuple[str, ...] = ()) -> UnitRun:
            flight.start(unit_seconds, cycle_ends)
            return run_unit(
                flight.unit,
                self._sessions,
                self._clock,
                previous,
                self._registry,
                refs,
                expires=flight.expires,
            )

        def run_ecr(flight: _InFlight, ecs: _InFlight | None) -> UnitRun:
            """ECR resolves the images its ECS unit found running: it waits for it, within
            its own deadline."""
            flight.start(unit_seconds, cycle_ends)
            refs: tuple[str, ...] = ()
            if ecs is not None and ecs.future is not None:
                remaining = max(0.0, flight.expires - time.monotonic())
                try:
                    refs = image_refs(ecs.future.result(timeout=remaining).result.resources)
                except (TimeoutError, CancelledError):
                    return UnitRun(CollectResult(gaps=(_deadline_gap(flight.unit, "unit"),)))
            return run(flight, refs)

        flights = [_InFlight(u) for u in units]
        ecs_of = {
            (f.unit.account, f.unit.region): f for f in flights if f.unit.service is Service.ECS
        }  # ECR waits for these
        pool = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="collect")
        try:
            for flight in flights:
                if flight.unit.service is not Service.ECR:
                    flight.future = pool.submit(run, flight)
            for flight in flights:
                if flight.unit.service is Service.ECR:
                    # queued after its ECS unit, so waiting on it cannot starve the pool
                    ecs = ecs_of.get((flight.unit.account, flight.unit.region))
                    flight.future = pool.submit(run_ecr, flight, ecs)
            finished = _await(flights, cycle_ends)
        finally:
            # an abandoned unit's thread is not waited for: its requests are refused already
            pool.shutdown(wait=False, cancel_futures=True)
        results: list[tuple[Unit, CollectResult]] = []
        for flight in flights:
            done, outcome = finished[flight]
            results.append((flight.unit, done.result))
            if progress is not None:
                progress(done_event(flight.unit, done, outcome))
        return Executed(results)


def _await(flights: list[_InFlight], cycle_ends: float) -> dict[_InFlight, tuple[UnitRun, str]]:
    """Every unit's run and outcome; past a unit's deadline (or the cycle's, for a unit that
    never started), a gap instead of its result."""
    waiting = {f.future: f for f in flights if f.future is not None}
    finished: dict[_InFlight, tuple[UnitRun, str]] = {}
    while waiting:
        now = time.monotonic()
        for fut, flight in list(waiting.items()):
            expires = flight.expires if flight.started is not None else cycle_ends
            if fut.done():
                finished[flight] = _outcome(flight, fut)
                del waiting[fut]
            elif now >= expires:
                fut.cancel()
                del waiting[fut]
                what = "cycle" if expires >= cycle_ends else "unit"
                gap = _deadline_gap(flight.unit, what)
                finished[flight] = (UnitRun(CollectResult(gaps=(gap,))), "timeout")
        if not waiting:
            break
        next_expiry = min(
            f.expires if f.started is not None else cycle_ends for f in waiting.values()
        )
        # a unit that starts meanwhile sets its own expiry: look again at least every second
        wait(waiting, timeout=max(0.0, min(next_expiry - now, 1.0)), return_when=FIRST_COMPLETED)
    return finished


def _outcome(flight: _InFlight, fut: Future[UnitRun]) -> tuple[UnitRun, str]:
    unit = flight.unit
    try:
        return fut.result(), "done"
    except Exception as exc:  # the unit wrapper itself failed: still a gap, never a pass
        log.exception("unit_failed", account=unit.account, region=unit.region)
        gap = unit_gap(unit, f"{unit.service.value}:collect", error_code(exc), error_message(exc))
        return UnitRun(CollectResult(gaps=(gap,))), "failed"


def _deadline_gap(unit: Unit, what: str) -> CollectionGap:
    log.warning(
        "unit_deadline_exceeded",
        account=unit.account,
        region=unit.region,
        service=unit.service.value,
        deadline=what,
    )
    return unit_gap(
        unit,
        f"{unit.service.value}:collect",
        DEADLINE_CODE,
        f"not finished by the {what} deadline (collect.{what}_deadline_seconds)",
    )

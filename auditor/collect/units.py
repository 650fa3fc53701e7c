"""The unit of collection work, and the in-process way of running a cycle's units.

A unit is one (account, region, service). `run_unit` collects one, in-process or on a
distributed worker alike, and never raises: what it could not read is a gap. An executor
runs a cycle's units and reports each as it finishes; `InProcessExecutor` uses a thread pool
(boto3 clients are thread-safe; adaptive retry mode paces each client), and
`auditor.workers.dispatch.DistributedExecutor` hands them to Celery workers. ECR runs after
ECS of the same account and region, because it resolves the images that ECS tasks run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from auditor.aws import AwsSessions, Target, error_code, error_message, tally_calls
from auditor.collect.base import AWS_ERRORS, Collector, CollectResult, PreviousState, UnitContext
from auditor.model import KIND_SERVICE, Clock, CollectionGap, Kind, Service

log = structlog.get_logger(__name__)


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
) -> UnitRun:
    """Collect one unit. Never raises: an error is a gap for this unit."""
    began = time.perf_counter()

    def client(name: str) -> object:
        return sessions.client(unit.target, name, unit.region)

    ctx = UnitContext(unit.account, unit.region, client, clock, previous, image_refs)
    with tally_calls() as tally:
        try:
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


class InProcessExecutor:
    """The units of a cycle on a thread pool of `concurrency` threads, in this process."""

    accounts_cache: AccountListCache | None = None

    def __init__(
        self,
        sessions: AwsSessions,
        clock: Clock,
        registry: Mapping[Service, Collector],
        concurrency: int,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._registry = registry
        self._concurrency = concurrency

    def execute(
        self,
        cycle_id: str,
        units: Sequence[Unit],
        previous: PreviousState,
        progress: ProgressCallback | None,
    ) -> Executed:
        from auditor.collect.ecs import image_refs

        def run(unit: Unit, refs: tuple[str, ...] = ()) -> UnitRun:
            return run_unit(unit, self._sessions, self._clock, previous, self._registry, refs)

        def run_ecr(unit: Unit, ecs: Future[UnitRun] | None) -> UnitRun:
            refs = image_refs(ecs.result().result.resources) if ecs is not None else ()
            return run(unit, refs)

        ecs_of = {
            (u.account, u.region): u for u in units if u.service is Service.ECS
        }  # ECR waits for these
        with ThreadPoolExecutor(
            max_workers=self._concurrency, thread_name_prefix="collect"
        ) as pool:
            futures: dict[Unit, Future[UnitRun]] = {}
            for unit in units:
                if unit.service is not Service.ECR:
                    futures[unit] = pool.submit(run, unit)
            for unit in units:
                if unit.service is Service.ECR:
                    # queued after its ECS unit, so waiting on it cannot starve the pool
                    ecs = ecs_of.get((unit.account, unit.region))
                    futures[unit] = pool.submit(run_ecr, unit, futures.get(ecs) if ecs else None)
            results: list[tuple[Unit, CollectResult]] = []
            for unit in units:
                done = futures[unit].result()
                results.append((unit, done.result))
                if progress is not None:
                    progress(done_event(unit, done))
        return Executed(results)

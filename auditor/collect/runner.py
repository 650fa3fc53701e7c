"""Fan-out of one collection over accounts x regions x services.

The unit of work is one (account, region, service). Units run concurrently on a thread pool
(boto3 clients are thread-safe; adaptive retry mode paces each client). ECR runs after ECS in
the same account and region, because it resolves the images that ECS tasks run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import botocore.config
import structlog

from auditor.aws import (
    AwsSessions,
    Target,
    client_config,
    deadline,
    error_code,
    error_message,
)
from auditor.collect.base import AWS_ERRORS, Collector, CollectResult, PreviousState, UnitContext
from auditor.model import (
    ANY,
    KIND_SERVICE,
    Clock,
    CollectionGap,
    Kind,
    Resource,
    Scope,
    Service,
    Snapshot,
)
from auditor.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class UnitDone:
    account: str
    region: str
    service: Service
    resources: int
    gaps: int


ProgressCallback = Callable[[UnitDone], None]


def collectors() -> dict[Service, Collector]:
    """One collector per service: the explicit list, greppable."""
    from auditor.collect.ec2 import collect_ec2
    from auditor.collect.ecr import collect_ecr
    from auditor.collect.ecs import collect_ecs
    from auditor.collect.eks import collect_eks

    return {
        Service.EC2: collect_ec2,
        Service.ECS: collect_ecs,
        Service.EKS: collect_eks,
        Service.ECR: collect_ecr,
    }


def collect_client_config(settings: Settings) -> botocore.config.Config:
    """The botocore client config of collection: retries and per-call timeouts."""
    c = settings.collect
    return client_config(
        c.max_attempts,
        read_timeout=c.read_timeout_seconds,
        connect_timeout=c.connect_timeout_seconds,
    )


DEADLINE_CODE = "DeadlineExceeded"


def kinds_of(service: Service) -> tuple[Kind, ...]:
    return tuple(k for k, s in KIND_SERVICE.items() if s is service)


def _scope_gap(
    account: str, region: str, services: Sequence[Service], operation: str, exc: BaseException
) -> tuple[CollectionGap, ...]:
    return tuple(
        CollectionGap(
            account=account,
            region=region,
            service=service,
            kinds=kinds_of(service),
            operation=operation,
            error_code=error_code(exc),
            message=error_message(exc),
        )
        for service in services
    )


def resolve_targets(
    settings: Settings, sessions: AwsSessions
) -> tuple[tuple[Target, ...], tuple[CollectionGap, ...]]:
    """The accounts to audit: explicit list, AWS Organizations discovery, or the caller's."""
    if settings.accounts:
        return tuple(Target(a.id, a.role_arn) for a in settings.accounts), ()
    org = settings.organization
    if org is None:
        try:
            return (Target(sessions.caller_account()),), ()
        except AWS_ERRORS as exc:
            # the account is not even known: every account in scope is unseen
            return (), _scope_gap(ANY, ANY, settings.services, "sts:GetCallerIdentity", exc)
    try:
        caller = sessions.caller_account()
        client = sessions.client(Target(caller), "organizations", sessions.default_region)
        accounts = [
            a["Id"]
            for page in client.get_paginator("list_accounts").paginate()
            for a in page["Accounts"]
            if a.get("Status", "ACTIVE") == "ACTIVE"
        ]
    except AWS_ERRORS as exc:
        return (), _scope_gap(ANY, ANY, settings.services, "organizations:ListAccounts", exc)
    chosen = [
        a
        for a in sorted(accounts)
        if (not org.include or a in org.include) and a not in org.exclude
    ]
    return tuple(
        Target(a, None if a == caller else f"arn:aws:iam::{a}:role/{org.role_name}") for a in chosen
    ), ()


def resolve_regions(
    settings: Settings, sessions: AwsSessions
) -> tuple[tuple[str, ...], tuple[CollectionGap, ...]]:
    if settings.regions == "all":
        try:
            caller = Target(sessions.caller_account())
            ec2 = sessions.client(caller, "ec2", sessions.default_region)
            regions = sorted(r["RegionName"] for r in ec2.describe_regions()["Regions"])
            return tuple(regions), ()
        except AWS_ERRORS as exc:
            # Fail closed: we cannot know the region list, so the whole estate is a gap.
            gap = _scope_gap(ANY, ANY, settings.services, "ec2:DescribeRegions", exc)
            return (sessions.default_region,), gap
    if settings.regions:
        return tuple(settings.regions), ()
    return (sessions.default_region,), ()


@dataclass(eq=False)
class _Unit:
    """One (account, region, service) in flight: its deadline starts when it starts."""

    target: Target
    region: str
    service: Service
    future: Future[CollectResult] | None = None
    started: float | None = None
    expires: float = 0.0

    def start(self, unit_seconds: float, cycle_ends: float) -> None:
        if self.started is None:
            self.started = time.monotonic()
            self.expires = min(cycle_ends, self.started + unit_seconds)


@dataclass(frozen=True, slots=True)
class _Runner:
    """Runs one unit's collector inside its deadline; every failure becomes a gap."""

    sessions: AwsSessions
    clock: Clock
    previous: PreviousState
    registry: dict[Service, Collector]
    unit_seconds: float
    cycle_ends: float

    def run(self, unit: _Unit, refs: tuple[str, ...] = ()) -> CollectResult:
        target, region, service = unit.target, unit.region, unit.service
        unit.start(self.unit_seconds, self.cycle_ends)

        def client(name: str) -> object:
            return self.sessions.client(target, name, region)

        ctx = UnitContext(target.account_id, region, client, self.clock, self.previous, refs)
        try:
            with deadline(unit.expires):
                return self.registry[service](ctx)
        except AWS_ERRORS as exc:  # assume-role failure surfaces on the first client call
            return CollectResult(
                gaps=_scope_gap(target.account_id, region, [service], "sts:AssumeRole", exc)
            )
        except Exception as exc:  # a collector bug must be a gap, never a silent pass
            log.exception(
                "collector_failed", account=target.account_id, region=region, service=service.value
            )
            return CollectResult(
                gaps=_scope_gap(
                    target.account_id, region, [service], f"{service.value}:collect", exc
                )
            )

    def run_ecr(self, unit: _Unit, ecs: _Unit | None) -> CollectResult:
        """ECR resolves the images its ECS unit found running: it waits for it, within
        its own deadline."""
        from auditor.collect.ecs import image_refs

        unit.start(self.unit_seconds, self.cycle_ends)
        refs: tuple[str, ...] = ()
        if ecs is not None and ecs.future is not None:
            remaining = max(0.0, unit.expires - time.monotonic())
            try:
                refs = image_refs(ecs.future.result(timeout=remaining).resources)
            except (TimeoutError, CancelledError):
                return CollectResult(gaps=_deadline_gaps(unit, "unit"))
        return self.run(unit, refs)


def collect(
    settings: Settings,
    sessions: AwsSessions,
    clock: Clock,
    previous: PreviousState,
    progress: ProgressCallback | None = None,
    registry: dict[Service, Collector] | None = None,
) -> Snapshot:
    """Run one collection and return everything it saw and could not see.

    It always ends: every unit has `collect.unit_deadline_seconds` from its start and the
    whole collection `collect.cycle_deadline_seconds`; a unit not done by its deadline is
    a gap over its (account, region, service) and its late result is dropped. Requests are
    refused past the deadline (no retry either), so an abandoned unit stops soon after.
    """
    started = clock.now()
    cycle_ends = time.monotonic() + settings.collect.cycle_deadline_seconds
    snapshot_id = f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    registry = registry or collectors()
    with deadline(cycle_ends):
        targets, gaps = resolve_targets(settings, sessions)
        regions, region_gaps = resolve_regions(settings, sessions)
    all_gaps: list[CollectionGap] = [*gaps, *region_gaps]
    resources: list[Resource] = []
    services = tuple(s for s in settings.services if s in registry)
    runner = _Runner(
        sessions, clock, previous, registry, settings.collect.unit_deadline_seconds, cycle_ends
    )

    def done(unit: _Unit, result: CollectResult) -> None:
        resources.extend(result.resources)
        all_gaps.extend(result.gaps)
        if progress is not None:
            progress(
                UnitDone(
                    unit.target.account_id,
                    unit.region,
                    unit.service,
                    len(result.resources),
                    len(result.gaps),
                )
            )

    pool = ThreadPoolExecutor(
        max_workers=settings.collect.concurrency, thread_name_prefix="collect"
    )
    units: list[_Unit] = []
    try:
        for target in targets:
            for region in regions:
                ecs: _Unit | None = None
                for service in services:
                    if service is Service.ECR:
                        continue
                    unit = _Unit(target, region, service)
                    unit.future = pool.submit(runner.run, unit)
                    units.append(unit)
                    if service is Service.ECS:
                        ecs = unit
                if Service.ECR in services:
                    # queued after its ECS unit, so waiting on it cannot starve the pool
                    unit = _Unit(target, region, Service.ECR)
                    unit.future = pool.submit(runner.run_ecr, unit, ecs)
                    units.append(unit)
        _await(units, cycle_ends, done)
    finally:
        # an abandoned unit's thread is not waited for: its requests are refused already
        pool.shutdown(wait=False, cancel_futures=True)

    accounts = tuple(t.account_id for t in targets)
    return Snapshot(
        id=snapshot_id,
        started_at=started,
        finished_at=clock.now(),
        scope=Scope(accounts=accounts, regions=regions, services=services),
        resources=tuple(sorted(resources, key=lambda r: (r.kind.value, r.arn))),
        gaps=tuple(all_gaps),
        api_calls=dict(sorted(sessions.counter.calls.items())),
    )


def _await(
    units: list[_Unit],
    cycle_ends: float,
    done: Callable[[_Unit, CollectResult], None],
) -> None:
    """Results in submission order as they come; past a unit's deadline (or the cycle's,
    for a unit that never started), a gap instead of its result."""
    waiting = {u.future: u for u in units if u.future is not None}
    finished: dict[_Unit, CollectResult] = {}
    while waiting:
        now = time.monotonic()
        for fut, unit in list(waiting.items()):
            expires = unit.expires if unit.started is not None else cycle_ends
            if fut.done():
                finished[unit] = _result(unit, fut)
                del waiting[fut]
            elif now >= expires:
                fut.cancel()
                del waiting[fut]
                what = "cycle" if expires >= cycle_ends else "unit"
                finished[unit] = CollectResult(gaps=_deadline_gaps(unit, what))
        if not waiting:
            break
        next_expiry = min(
            u.expires if u.started is not None else cycle_ends for u in waiting.values()
        )
        # a unit that starts meanwhile sets its own expiry: look again at least every second
        wait(waiting, timeout=max(0.0, min(next_expiry - now, 1.0)), return_when=FIRST_COMPLETED)
    for unit in units:
        done(unit, finished[unit])


def _result(unit: _Unit, fut: Future[CollectResult]) -> CollectResult:
    try:
        return fut.result()
    except Exception as exc:  # the unit wrapper itself failed: still a gap, never a pass
        log.exception("unit_failed", account=unit.target.account_id, region=unit.region)
        return CollectResult(
            gaps=_scope_gap(
                unit.target.account_id,
                unit.region,
                [unit.service],
                f"{unit.service.value}:collect",
                exc,
            )
        )


def _deadline_gaps(unit: _Unit, what: str) -> tuple[CollectionGap, ...]:
    log.warning(
        "unit_deadline_exceeded",
        account=unit.target.account_id,
        region=unit.region,
        service=unit.service.value,
        deadline=what,
    )
    return (
        CollectionGap(
            account=unit.target.account_id,
            region=unit.region,
            service=unit.service,
            kinds=kinds_of(unit.service),
            operation=f"{unit.service.value}:collect",
            error_code=DEADLINE_CODE,
            message=f"not finished by the {what} deadline (collect.{what}_deadline_seconds)",
        ),
    )

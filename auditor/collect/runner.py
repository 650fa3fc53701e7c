"""Fan-out of one collection over accounts x regions x services.

The unit of work is one (account, region, service). Units run concurrently on a thread pool
(boto3 clients are thread-safe; adaptive retry mode paces each client). ECR runs after ECS in
the same account and region, because it resolves the images that ECS tasks run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import structlog

from auditor.aws import AwsSessions, Target, error_code, error_message
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


def collect(
    settings: Settings,
    sessions: AwsSessions,
    clock: Clock,
    previous: PreviousState,
    progress: ProgressCallback | None = None,
    registry: dict[Service, Collector] | None = None,
) -> Snapshot:
    """Run one collection and return everything it saw and could not see."""
    started = clock.now()
    snapshot_id = f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    registry = registry or collectors()
    targets, gaps = resolve_targets(settings, sessions)
    regions, region_gaps = resolve_regions(settings, sessions)
    all_gaps: list[CollectionGap] = [*gaps, *region_gaps]
    resources: list[Resource] = []
    services = tuple(s for s in settings.services if s in registry)

    def run(target: Target, region: str, service: Service, refs: tuple[str, ...]) -> CollectResult:
        def client(name: str) -> object:
            return sessions.client(target, name, region)

        ctx = UnitContext(target.account_id, region, client, clock, previous, refs)
        try:
            return registry[service](ctx)
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

    def done(target: Target, region: str, service: Service, result: CollectResult) -> None:
        resources.extend(result.resources)
        all_gaps.extend(result.gaps)
        if progress is not None:
            progress(
                UnitDone(
                    target.account_id, region, service, len(result.resources), len(result.gaps)
                )
            )

    def run_ecr(target: Target, region: str, ecs: Future[CollectResult] | None) -> CollectResult:
        from auditor.collect.ecs import image_refs

        refs = image_refs(ecs.result().resources) if ecs is not None else ()
        return run(target, region, Service.ECR, refs)

    with ThreadPoolExecutor(
        max_workers=settings.collect.concurrency, thread_name_prefix="collect"
    ) as pool:
        pending: list[tuple[Target, str, Service, Future[CollectResult]]] = []
        for target in targets:
            for region in regions:
                ecs: Future[CollectResult] | None = None
                for service in services:
                    if service is Service.ECR:
                        continue
                    fut = pool.submit(run, target, region, service, ())
                    pending.append((target, region, service, fut))
                    if service is Service.ECS:
                        ecs = fut
                if Service.ECR in services:
                    # queued after its ECS unit, so waiting on it cannot starve the pool
                    fut = pool.submit(run_ecr, target, region, ecs)
                    pending.append((target, region, Service.ECR, fut))
        for target, region, service, fut in pending:
            done(target, region, service, fut.result())

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

"""Fan-out of one collection over accounts x regions x services.

Resolves the accounts and regions, plans one unit per (account, region, service) and hands
the units to an executor: in this process (a thread pool, `InProcessExecutor`, with a
deadline per unit and per cycle) or to distributed workers (`auditor.workers`). Either way
the result is one Snapshot.
"""

from __future__ import annotations

import importlib
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from functools import partial

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
from auditor.collect.base import AWS_ERRORS, Collector, CollectorSpec, PreviousState
from auditor.collect.ecr_blobs import ByteBudget, ImageScanOptions
from auditor.collect.units import (
    DEADLINE_CODE,
    AccountListCache,
    InProcessExecutor,
    ProgressCallback,
    Unit,
    UnitDone,
    UnitExecutor,
    kinds_of,
)
from auditor.model import (
    ANY,
    Clock,
    CollectionGap,
    Resource,
    Scope,
    Service,
    Snapshot,
)
from auditor.settings import Settings

log = structlog.get_logger(__name__)

__all__ = [
    "DEADLINE_CODE",
    "ProgressCallback",
    "UnitDone",
    "api_services",
    "collect",
    "collect_client_config",
    "collector_specs",
    "collectors",
    "image_options",
    "kinds_of",
    "plan_units",
    "resolve_targets",
]


def collector_specs() -> dict[Service, CollectorSpec]:
    """One collector per AWS service, with the kinds it produces and the IAM actions it
    calls: the `SPEC` of `auditor/collect/<service>.py` for each member of `Service` (iac,
    the declared state, is read by `auditor/iac/`, not collected). A new service is its
    `Service` and `Kind` members in `model.py` and that module."""
    return {
        service: importlib.import_module(f"auditor.collect.{service.value}").SPEC
        for service in Service
        if service is not Service.IAC
    }


def api_services(services: Sequence[Service]) -> tuple[str, ...]:
    """The AWS API services the collectors of `services` call, read off their declared IAM
    actions (a worker builds their clients at start; any other is built on first use)."""
    specs = collector_specs()
    prefixes = (a.split(":", 1)[0] for s in services if s in specs for a in specs[s].iam_actions)
    return tuple(sorted(set(prefixes)))


def collectors(images: ImageScanOptions | None = None) -> dict[Service, Collector]:
    """The collect function of each service. `images`: what the ECR collector reads inside
    images in use (default: config only, no layers)."""
    from auditor.collect.ecr import collect_ecr

    found = {service: spec.collect for service, spec in collector_specs().items()}
    found[Service.ECR] = partial(collect_ecr, images=images)
    return found


def image_options(settings: Settings, *, per_cycle_budget: bool = True) -> ImageScanOptions:
    """`collect.images` as collector options; with `per_cycle_budget`, one layer byte budget
    shared by the units of this cycle (distributed workers: one per unit)."""
    c = settings.collect.images
    return ImageScanOptions(
        config_max_bytes=c.config_max_bytes,
        timeout_seconds=c.timeout_seconds,
        layers=c.layers.enabled,
        layer_max_bytes_per_image=c.layers.max_bytes_per_image,
        layer_max_bytes_per_cycle=c.layers.max_bytes_per_cycle,
        layer_file_max_bytes=c.layers.max_file_bytes,
        budget=ByteBudget(c.layers.max_bytes_per_cycle) if per_cycle_budget else None,
    )


def collect_client_config(settings: Settings) -> botocore.config.Config:
    """The botocore client config of collection: retries and per-call timeouts."""
    c = settings.collect
    return client_config(
        c.max_attempts,
        read_timeout=c.read_timeout_seconds,
        connect_timeout=c.connect_timeout_seconds,
    )


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
    settings: Settings, sessions: AwsSessions, cache: AccountListCache | None = None
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
        key = f"organization:{caller}"
        cached = cache.get(key) if cache is not None and org.cache_seconds else None
        if cached is not None:
            accounts = cached
        else:
            client = sessions.client(Target(caller), "organizations", sessions.default_region)
            accounts = [
                a["Id"]
                for page in client.get_paginator("list_accounts").paginate()
                for a in page["Accounts"]
                if a.get("Status", "ACTIVE") == "ACTIVE"
            ]
            if cache is not None and org.cache_seconds:
                cache.put(key, accounts, org.cache_seconds)
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


def plan_units(
    targets: Sequence[Target], regions: Sequence[str], services: Sequence[Service]
) -> tuple[Unit, ...]:
    """Every (account, region, service) of the cycle; ECR after ECS within a cell."""
    ordered = sorted(services, key=lambda s: s is Service.ECR)
    return tuple(Unit(t, r, s) for t in targets for r in regions for s in ordered)


def collect(
    settings: Settings,
    sessions: AwsSessions,
    clock: Clock,
    previous: PreviousState,
    progress: ProgressCallback | None = None,
    registry: dict[Service, Collector] | None = None,
    executor: UnitExecutor | None = None,
) -> Snapshot:
    """Run one collection and return everything it saw and could not see.

    It always ends. In process (no `executor` given): every unit has
    `collect.unit_deadline_seconds` from its start and the whole collection
    `collect.cycle_deadline_seconds`; a unit not done by its deadline is a gap over its
    (account, region, service) and its late result is dropped. Requests are refused past the
    deadline (no retry either), so an abandoned unit stops soon after. A distributed
    executor bounds its units by its own rules (`workers.unit_timeout_seconds`, ...).
    """
    started = clock.now()
    cycle_ends = time.monotonic() + settings.collect.cycle_deadline_seconds
    snapshot_id = f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    registry = registry or collectors(image_options(settings))
    executor = executor or InProcessExecutor(
        sessions,
        clock,
        registry,
        settings.collect.concurrency,
        unit_seconds=settings.collect.unit_deadline_seconds,
        cycle_ends=cycle_ends,
    )
    with deadline(cycle_ends):
        targets, gaps = resolve_targets(settings, sessions, executor.accounts_cache)
        regions, region_gaps = resolve_regions(settings, sessions)
    services = tuple(s for s in settings.services if s in registry)
    units = plan_units(targets, regions, services)
    executed = executor.execute(snapshot_id, units, previous, progress)
    resources: list[Resource] = []
    all_gaps: list[CollectionGap] = [*gaps, *region_gaps]
    for _, result in executed.results:
        resources.extend(result.resources)
        all_gaps.extend(result.gaps)
    api_calls = Counter(sessions.counter.calls)
    api_calls.update(executed.remote_api_calls)
    accounts = tuple(t.account_id for t in targets)
    return Snapshot(
        id=snapshot_id,
        started_at=started,
        finished_at=clock.now(),
        scope=Scope(accounts=accounts, regions=regions, services=services),
        resources=tuple(sorted(resources, key=lambda r: (r.kind.value, r.arn))),
        gaps=tuple(all_gaps),
        api_calls=dict(sorted(api_calls.items())),
    )

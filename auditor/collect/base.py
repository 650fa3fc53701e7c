"""What every collector takes and returns.

A collector is a plain function `(UnitContext) -> CollectResult` for one (account, region,
service). It never raises for an AWS error: what it could not read becomes a CollectionGap
(fail closed: a gap makes every rule that needs the data `unknown`, never `pass`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

import botocore.exceptions

from auditor.aws import error_code, error_message
from auditor.model import (
    JSON,
    Clock,
    CollectionGap,
    Kind,
    Resource,
    Service,
    Snapshot,
    iso,
)

ClientFactory = Callable[[str], Any]  # service name ("ec2", "ecs", ...) -> boto3 client

AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)

# digests -> every stored (scope, `imageContent`) of each, widest scan scope first: the
# store's persistent cache by digest (Store.image_contents)
ImageLookup = Callable[[Collection[str]], Mapping[str, Sequence[tuple[str, JSON]]]]


@dataclass(frozen=True, slots=True)
class PreviousState:
    """Immutable facts already read in an earlier cycle, so they are not fetched twice.

    - user data of an instance, valid while (InstanceId, LaunchTime) is unchanged and the
      instance is not stopped (user data can only change while stopped, and a start moves
      LaunchTime);
    - task definition revisions, by ARN (a revision never changes);
    - what is inside an ECR image, by digest (a digest never changes): from the previous
      snapshot, and for any other digest from `image_lookup`, the store's persistent cache
      (an image out of use for a while is not read again when it comes back).
    """

    user_data: Mapping[tuple[str, str], JSON] = field(default_factory=dict)
    task_definitions: Mapping[str, Resource] = field(default_factory=dict)
    # what is inside an image (`imageContent`), by digest (immutable), and its last scan
    # state by image ARN (reused while the scan is unchanged)
    image_content: Mapping[str, JSON] = field(default_factory=dict)
    image_scans: Mapping[str, JSON] = field(default_factory=dict)
    # the resources these facts came from: what a distributed unit is sent (`for_cell`)
    sources: tuple[Resource, ...] = ()
    # the persistent image content cache (None: only the previous snapshot is known)
    image_lookup: ImageLookup | None = None

    @classmethod
    def from_snapshot(
        cls, snapshot: Snapshot | None, image_lookup: ImageLookup | None = None
    ) -> PreviousState:
        if snapshot is None:
            return cls(image_lookup=image_lookup)
        return cls.from_resources(snapshot.resources, image_lookup)

    @classmethod
    def from_resources(
        cls, resources: Iterable[Resource], image_lookup: ImageLookup | None = None
    ) -> PreviousState:
        user_data: dict[tuple[str, str], JSON] = {}
        task_defs: dict[str, Resource] = {}
        content: dict[str, JSON] = {}
        scans: dict[str, JSON] = {}
        sources: list[Resource] = []
        for r in resources:
            if r.kind is Kind.EC2_INSTANCE and "UserData" not in r.unavailable:
                attrs = r.attributes
                if "UserData" in attrs and "LaunchTime" in attrs:
                    user_data[(r.id, str(attrs["LaunchTime"]))] = attrs["UserData"]
                    sources.append(r)
            elif r.kind is Kind.ECS_TASK_DEFINITION:
                task_defs[r.arn] = r
                sources.append(r)
            elif r.kind is Kind.ECR_IMAGE:
                digest = str(r.attributes.get("imageDigest") or "")
                if isinstance(r.attributes.get("imageContent"), dict) and digest:
                    content[digest] = r.attributes["imageContent"]
                if isinstance(r.attributes.get("scan"), dict):
                    scans[r.arn] = r.attributes["scan"]
                sources.append(r)
        return cls(
            user_data=user_data,
            task_definitions=task_defs,
            image_content=content,
            image_scans=scans,
            sources=tuple(sources),
            image_lookup=image_lookup,
        )

    def for_cell(self, account: str, region: str, service: Service) -> tuple[Resource, ...]:
        """The source resources one (account, region, service) unit can use."""
        return tuple(
            r
            for r in self.sources
            if r.account == account and r.region == region and r.kind.service is service
        )


@dataclass(frozen=True, slots=True)
class UnitContext:
    account: str
    region: str
    client: ClientFactory
    clock: Clock
    previous: PreviousState = field(default_factory=PreviousState)
    # image references ("repo-uri:tag" or "repo-uri@sha256:...") that ECR should resolve;
    # filled by the runner from the ECS results of the same account and region.
    image_refs: tuple[str, ...] = ()
    # counts a request that is not a botocore call (an ECR blob download) with the unit's calls
    record: Callable[[str], None] = field(default=lambda _name: None)


@dataclass(frozen=True, slots=True)
class CollectResult:
    resources: tuple[Resource, ...] = ()
    gaps: tuple[CollectionGap, ...] = ()

    def __add__(self, other: CollectResult) -> CollectResult:
        return CollectResult(self.resources + other.resources, self.gaps + other.gaps)


Collector = Callable[[UnitContext], CollectResult]


@dataclass(frozen=True, slots=True)
class CollectorSpec:
    """A service's collector and what it declares: the kinds it produces (a gap over the
    unit hides exactly these) and the IAM read actions it calls (tests/deploy/test_iam.py
    checks them against the code and against deploy/iam/audit-readonly.json)."""

    collect: Collector
    kinds: tuple[Kind, ...]
    iam_actions: frozenset[str]


def gap(
    ctx: UnitContext,
    service: Service,
    kinds: tuple[Kind, ...],
    operation: str,
    exc: BaseException,
    resource_arn: str | None = None,
) -> CollectionGap:
    return CollectionGap(
        account=ctx.account,
        region=ctx.region,
        service=service,
        kinds=kinds,
        operation=operation,
        error_code=error_code(exc),
        message=error_message(exc),
        resource_arn=resource_arn,
    )


# Errors that repeat for every call of an operation: stop asking after the first one.
DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
    }
)

T = TypeVar("T")
R = TypeVar("R")
# single-resource reads one unit has in flight at once (each_concurrently)
READS_IN_FLIGHT = 8


class UnitState:
    """What one (account, region, service) collection has found so far, and the one way it
    calls AWS: an error becomes a gap over the kinds it leaves incomplete; a resource deleted
    between list and describe (`not_found` codes) is simply gone; an operation denied once is
    not asked again in this unit (its gap already covers the kinds)."""

    def __init__(
        self,
        ctx: UnitContext,
        service: Service,
        not_found: frozenset[str] = frozenset(),
        tag_keys: tuple[str, str] = ("Key", "Value"),
    ) -> None:
        self.ctx = ctx
        self.client = ctx.client(service.value)
        self.now: datetime = ctx.clock.now()
        self.resources: list[Resource] = []
        self.gaps: list[CollectionGap] = []
        self.vanished = False  # the last call's resource no longer exists
        self._service = service
        self._not_found = not_found
        self._tag_keys = tag_keys
        self._denied: set[str] = set()

    def call(self, operation: str, kinds: tuple[Kind, ...], fn: Callable[[], T]) -> T | None:
        """fn(), or None (with a gap recorded unless the resource vanished)."""
        self.vanished = False
        if operation in self._denied:
            return None
        try:
            return fn()
        except AWS_ERRORS as exc:
            code = error_code(exc)
            if code in self._not_found:
                self.vanished = True
                return None
            if code in DENIED_CODES:
                self._denied.add(operation)
            self.gaps.append(gap(self.ctx, self._service, kinds, operation, exc))
            return None

    def add(self, kind: Kind, arn: str, rid: str, tags: Any, attributes: dict[str, JSON]) -> None:
        self.resources.append(
            Resource(
                kind=kind,
                arn=arn,
                id=rid,
                account=self.ctx.account,
                region=self.ctx.region,
                tags=tag_map(tags, *self._tag_keys),
                attributes=attributes,
                observed_at=self.now,
            )
        )

    def result(self) -> CollectResult:
        return CollectResult(tuple(self.resources), tuple(self.gaps))


_SCALARS = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> JSON:
    """An AWS response fragment as canonical JSON data (datetimes to ISO 8601 UTC)."""
    kind = type(value)
    if kind in _SCALARS:  # most of a response: no isinstance chain (Mapping's is slow)
        return value
    if kind is dict:
        return {str(k): jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if kind is list:
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        raise TypeError("raw bytes must be redacted by the collector before normalizing")
    return value


def pick(source: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, JSON]:
    """The listed keys that are present, normalized. Absent keys stay absent."""
    return {k: jsonable(source[k]) for k in keys if k in source and source[k] is not None}


def tag_map(tags: Any, key: str = "Key", value: str = "Value") -> dict[str, str]:
    """AWS tag lists ([{Key, Value}]) or dicts, as a plain mapping."""
    if not tags:
        return {}
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t[key]): str(t.get(value, "")) for t in tags}


def paginate(client: Any, operation: str, result_key: str, **kwargs: Any) -> Iterator[Any]:
    """Every item of a paginated list call (boto3 paginator; page size set by the caller)."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(result_key, [])


def each_concurrently(
    read: Callable[[T], R], items: Sequence[T], workers: int = READS_IN_FLIGHT
) -> list[R]:
    """`read` of every item, in order, up to `workers` at a time: single-resource reads (user
    data, task definitions) wait on the network, not on each other. Each read runs in a copy
    of the caller's context, so its API calls count towards the caller's unit and the unit's
    deadline holds for it."""
    if len(items) <= 1:
        return [read(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        futures = [pool.submit(contextvars.copy_context().run, read, item) for item in items]
        return [f.result() for f in futures]


def chunks(items: list[Any] | tuple[Any, ...], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])

"""The values that flow between pipeline stages.

Every stage hands the next one of these immutable values; nothing downstream calls back
upstream. Attribute mappings inside a Resource are plain JSON-compatible data (datetimes
as ISO 8601 strings in UTC) and must be treated as read-only: they are the evidence a
report shows, and their canonical JSON is what the store content-addresses.
The attribute layout of every kind is documented in docs/resources.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol, TypeVar


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse: critical=4 ... info=0."""
        return _SEVERITY_RANK[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


class Status(StrEnum):
    """Status of a finding. Passing resources produce no finding, only counts."""

    FAIL = "fail"
    UNKNOWN = "unknown"
    EXEMPT = "exempt"


class Service(StrEnum):
    """The unit a user enables in `services:` and the unit a CollectionGap names."""

    EC2 = "ec2"  # includes Auto Scaling
    ECS = "ecs"
    EKS = "eks"
    ECR = "ecr"
    IAC = "iac"  # declared state (Terraform); not an AWS service, not in `services:`


class Kind(StrEnum):
    """Resource kinds. Rule files name these in their `resource:` key."""

    EC2_INSTANCE = "ec2.instance"
    EC2_IMAGE = "ec2.image"
    EC2_SECURITY_GROUP = "ec2.security_group"
    EC2_LAUNCH_TEMPLATE = "ec2.launch_template"
    ASG = "autoscaling.group"
    ECS_CLUSTER = "ecs.cluster"
    ECS_SERVICE = "ecs.service"
    ECS_TASK_DEFINITION = "ecs.task_definition"
    ECS_TASK = "ecs.task"
    EKS_CLUSTER = "eks.cluster"
    EKS_NODEGROUP = "eks.nodegroup"
    ECR_REPOSITORY = "ecr.repository"
    ECR_IMAGE = "ecr.image"
    IAC_RESOURCE = "iac.resource"  # one resource as Terraform state declares it

    @property
    def service(self) -> Service:
        return KIND_SERVICE[self]


KIND_SERVICE: Mapping[Kind, Service] = {
    Kind.EC2_INSTANCE: Service.EC2,
    Kind.EC2_IMAGE: Service.EC2,
    Kind.EC2_SECURITY_GROUP: Service.EC2,
    Kind.EC2_LAUNCH_TEMPLATE: Service.EC2,
    Kind.ASG: Service.EC2,
    Kind.ECS_CLUSTER: Service.ECS,
    Kind.ECS_SERVICE: Service.ECS,
    Kind.ECS_TASK_DEFINITION: Service.ECS,
    Kind.ECS_TASK: Service.ECS,
    Kind.EKS_CLUSTER: Service.EKS,
    Kind.EKS_NODEGROUP: Service.EKS,
    Kind.ECR_REPOSITORY: Service.ECR,
    Kind.ECR_IMAGE: Service.ECR,
    Kind.IAC_RESOURCE: Service.IAC,
}

T = TypeVar("T")

JSON = Any  # JSON-compatible value: None, bool, int, float, str, list, dict[str, JSON]


def canonical_json(value: JSON) -> str:
    """Canonical JSON: sorted keys, no whitespace. The input of every content hash."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def iso(dt: datetime) -> str:
    """The one datetime format used in attributes, reports and the store (UTC, seconds)."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: every datetime in auditor is tz-aware UTC")
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SecretHit:
    """Where a secret was seen. Never holds the value: only where, what kind, and a short hash."""

    location: str  # e.g. "line 4", "env DB_PASSWORD", "container web env DB_PASSWORD"
    detector: str  # auditor.secrets.detect.REASONS key, or a token library's type
    hash: str  # first 12 hex chars of sha256(value): lets two reports say "same secret"
    name: str = ""  # the variable, key or tool flag (for allowlists by name pattern)

    def to_json(self) -> dict[str, str]:
        out = {"location": self.location, "detector": self.detector, "hash": self.hash}
        if self.name:
            out["name"] = self.name
        return out


@dataclass(frozen=True, slots=True)
class Resource:
    """One normalized AWS resource as observed in one collection."""

    kind: Kind
    arn: str
    id: str
    account: str
    region: str
    tags: Mapping[str, str]
    attributes: Mapping[str, JSON]
    observed_at: datetime
    # attribute keys that exist on this kind but could not be read this cycle (e.g. UserData
    # when DescribeInstanceAttribute was denied). A rule that reads one of them is `unknown`.
    unavailable: tuple[str, ...] = ()

    def config_document(self) -> dict[str, JSON]:
        """What is content-addressed: everything but the observation time."""
        return {
            "kind": self.kind.value,
            "arn": self.arn,
            "id": self.id,
            "account": self.account,
            "region": self.region,
            "tags": dict(sorted(self.tags.items())),
            "attributes": self.attributes,
            "unavailable": list(self.unavailable),
        }

    @property
    def config_hash(self) -> str:
        return sha256_hex(canonical_json(self.config_document()))

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(
            arn=self.arn,
            id=self.id,
            kind=self.kind,
            account=self.account,
            region=self.region,
            tags=self.tags,
        )


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """The identity of a resource as a finding and a report show it."""

    arn: str
    id: str
    kind: Kind | str  # str for scope placeholders of unknown findings
    account: str
    region: str
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, JSON]:
        return {
            "arn": self.arn,
            "id": self.id,
            "kind": str(self.kind),
            "account": self.account,
            "region": self.region,
            "tags": dict(self.tags),
        }


ANY = "*"  # a gap's account or region that stands for every one of them


class GapLevel(StrEnum):
    """How much a gap hides, widest first. Derived from its scope fields, never stored."""

    ORGANIZATION = "organization"  # the account list itself: every account (account "*")
    ACCOUNT = "account"  # one account in every region (region "*")
    SERVICE = "service"  # every kind of one service in one account and region
    KIND = "kind"  # some kinds of one service in one account and region
    RESOURCE = "resource"  # one resource (some of its attributes, or its related data)


@dataclass(frozen=True, slots=True)
class CollectionGap:
    """Something a collector could not see. Every rule that needs it yields `unknown`.

    Its scope is explicit: `account` ("*": every account, the organisation), `region`
    ("*": every region), `service`, `kinds`, and `resource_arn` (only that resource).
    `hides` is the one rule that decides what a gap hides.
    """

    account: str
    region: str
    service: Service
    kinds: tuple[Kind, ...]  # kinds whose listing is incomplete in (account, region)
    operation: str  # e.g. "ecs:ListClusters"
    error_code: str  # e.g. "AccessDeniedException", "Throttling", "EndpointConnectionError"
    message: str  # AWS's message, never containing secret values
    resource_arn: str | None = None  # set when only one resource's attribute is missing

    @property
    def level(self) -> GapLevel:
        if self.resource_arn is not None:
            return GapLevel.RESOURCE
        if self.account == ANY:
            return GapLevel.ORGANIZATION
        if self.region == ANY:
            return GapLevel.ACCOUNT
        if set(self.kinds) >= {k for k, s in KIND_SERVICE.items() if s is self.service}:
            return GapLevel.SERVICE
        return GapLevel.KIND

    def hides(self, kind: Kind | str, account: str, region: str, arn: str | None = None) -> bool:
        """True when this gap means the cycle could not see (kind, account, region), or,
        with `arn`, that one resource. A resource gap hides only its own resource; a
        scope question (no `arn`) is answered by scope gaps only."""
        if self.account not in (ANY, account) or self.region not in (ANY, region):
            return False
        if kind not in self.kinds:
            return False
        return self.resource_arn is None or self.resource_arn == arn

    def covers(self, kind: Kind, account: str, region: str) -> bool:
        """The whole (kind, account, region) listing is hidden (not just one resource)."""
        return self.hides(kind, account, region)

    def to_json(self) -> dict[str, JSON]:
        return {
            "account": self.account,
            "region": self.region,
            "service": self.service.value,
            "kinds": [k.value for k in self.kinds],
            "operation": self.operation,
            "error_code": self.error_code,
            "message": self.message,
            "resource_arn": self.resource_arn,
            "level": self.level.value,
        }


def hiding_gaps(
    gaps: Iterable[CollectionGap], kind: Kind | str, account: str, region: str, arn: str
) -> tuple[CollectionGap, ...]:
    """The gaps that hide a resource (or a scope placeholder `arn`) from a cycle."""
    return tuple(g for g in gaps if g.hides(kind, account, region, arn))


@dataclass(frozen=True, slots=True)
class Scope:
    accounts: tuple[str, ...]
    regions: tuple[str, ...]
    services: tuple[Service, ...]

    def to_json(self) -> dict[str, JSON]:
        return {
            "accounts": list(self.accounts),
            "regions": list(self.regions),
            "services": [s.value for s in self.services],
        }


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one collection saw, and everything it could not see."""

    id: str
    started_at: datetime
    finished_at: datetime
    scope: Scope
    resources: tuple[Resource, ...]
    gaps: tuple[CollectionGap, ...]
    api_calls: Mapping[str, int]  # "ec2:DescribeInstances" -> count

    @property
    def complete(self) -> bool:
        return not self.gaps

    @property
    def total_api_calls(self) -> int:
        return sum(self.api_calls.values())


@dataclass(frozen=True, slots=True)
class Baseline:
    """A resource's first observed configuration: what was deployed, for drift detection."""

    resource: Resource
    first_seen: datetime
    snapshot_id: str  # the snapshot (cycle) that first saw it


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who made a call, as CloudTrail recorded it. Never holds a credential or token."""

    event_id: str  # the CloudTrail eventID (or the EventBridge event id of a service event)
    event_name: str  # "ModifyInstanceAttribute", "StartSession", ...
    event_source: str  # "ec2.amazonaws.com", ...
    event_time: datetime
    principal_arn: str | None = None  # userIdentity.arn
    principal_type: str | None = None  # userIdentity.type
    session_issuer: str | None = None  # sessionContext.sessionIssuer.arn (the role)
    sso_user: str | None = None  # the Identity Center user, from the role session name
    source_ip: str | None = None
    user_agent: str | None = None
    origin: str = "event"  # "event" (received on the feed) or "lookup" (CloudTrail LookupEvents)

    @property
    def actor(self) -> str:
        """The most human name available for who did it."""
        return self.sso_user or self.principal_arn or self.session_issuer or "unknown"

    def to_json(self) -> dict[str, JSON]:
        return {
            "event_id": self.event_id,
            "event_name": self.event_name,
            "event_source": self.event_source,
            "event_time": iso(self.event_time),
            "principal_arn": self.principal_arn,
            "principal_type": self.principal_type,
            "session_issuer": self.session_issuer,
            "sso_user": self.sso_user,
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
            "origin": self.origin,
        }


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """A shell opened on a running thing (SSM session, EC2 Instance Connect, ECS Exec)."""

    kind: str  # "ssm_session", "instance_connect", "ecs_exec"
    target_arn: str
    session_id: str | None
    attribution: Attribution

    def to_json(self) -> dict[str, JSON]:
        return {
            "kind": self.kind,
            "target_arn": self.target_arn,
            "session_id": self.session_id,
            **self.attribution.to_json(),
        }


@dataclass(frozen=True)
class History:
    """What earlier cycles saw, as drift rules need it: pure data, built before evaluation.

    `baselines` holds the first observed version of the resources drift rules watch (a
    resource with none is seen for the first time: it has no drift); `previous` is the
    previous cycle's snapshot, if any. `access` holds the shells opened on resources (by
    target ARN) as the event feed recorded them; None when no feed was read (the access
    rules are then unknown, never passing).
    """

    baselines: Mapping[str, Baseline] = field(default_factory=dict)
    previous: Snapshot | None = None
    access: Mapping[str, tuple[AccessRecord, ...]] | None = None
    _previous_by_arn: dict[str, Resource] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        resources = self.previous.resources if self.previous is not None else ()
        object.__setattr__(self, "_previous_by_arn", {r.arn: r for r in resources})

    def previous_resource(self, arn: str) -> Resource | None:
        return self._previous_by_arn.get(arn)


class SnapshotView:
    """A read-only index over a snapshot, for checks that look up related resources.

    `history` (optional) gives drift rules the baselines and the previous cycle; `memo`
    lets a check build a derived index once per evaluation instead of once per resource.
    Each index is built on first use: most rules never need one.
    """

    def __init__(self, snapshot: Snapshot, history: History | None = None) -> None:
        self.snapshot = snapshot
        self.history = history
        self._memo: dict[str, Any] = {}
        self._by_arn: dict[str, Resource] | None = None
        self._by_kind: dict[Kind, tuple[Resource, ...]] | None = None
        self._by_id: dict[tuple[Kind, str, str, str], Resource] | None = None

    def get(self, arn: str) -> Resource | None:
        if self._by_arn is None:
            self._by_arn = {r.arn: r for r in self.snapshot.resources}
        return self._by_arn.get(arn)

    def find(self, kind: Kind, account: str, region: str, resource_id: str) -> Resource | None:
        if self._by_id is None:
            self._by_id = {(r.kind, r.account, r.region, r.id): r for r in self.snapshot.resources}
        return self._by_id.get((kind, account, region, resource_id))

    def of_kind(self, kind: Kind) -> tuple[Resource, ...]:
        if self._by_kind is None:
            grouped: dict[Kind, list[Resource]] = {}
            for r in self.snapshot.resources:
                grouped.setdefault(r.kind, []).append(r)
            self._by_kind = {k: tuple(v) for k, v in grouped.items()}
        return self._by_kind.get(kind, ())

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.snapshot.resources)

    def gap_for(self, kind: Kind, account: str, region: str) -> CollectionGap | None:
        for gap in self.snapshot.gaps:
            if gap.covers(kind, account, region):
                return gap
        return None

    def baseline(self, arn: str) -> Baseline | None:
        """The resource's first observed version, or None (first seen, or no history given)."""
        return self.history.baselines.get(arn) if self.history is not None else None

    def previous(self, arn: str) -> Resource | None:
        """The resource as the previous cycle saw it, or None."""
        return self.history.previous_resource(arn) if self.history is not None else None

    def access(self, arn: str) -> tuple[AccessRecord, ...] | None:
        """Shells opened on the resource, oldest first; None when no event feed was read."""
        if self.history is None or self.history.access is None:
            return None
        return self.history.access.get(arn, ())

    def memo(self, key: str, build: Callable[[SnapshotView], T]) -> T:
        """`build(self)` once per view (per evaluation), cached under `key`."""
        try:
            value: T = self._memo[key]
        except KeyError:
            value = self._memo[key] = build(self)
        return value


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FixedClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


@lru_cache(maxsize=1 << 18)
def finding_id(rule_id: str, resource_arn: str) -> str:
    """Stable fingerprint of (rule, resource): the same problem keeps its id across cycles.
    Cached: a cycle asks for the ids of the same findings many times (delta, store, plan)."""
    return sha256_hex(f"{rule_id}\x00{resource_arn}")[:32]


@dataclass(frozen=True, slots=True)
class ExemptionRef:
    source: str  # "config", a file path, or "tag"
    reason: str
    owner: str
    expires: str  # ISO date

    def to_json(self) -> dict[str, JSON]:
        return {
            "source": self.source,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires,
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """One (rule, resource) that did not pass this cycle."""

    rule_id: str
    severity: Severity
    status: Status
    resource: ResourceRef
    message: str
    evidence: Mapping[str, JSON]
    exemption: ExemptionRef | None = None

    @property
    def id(self) -> str:
        return finding_id(self.rule_id, self.resource.arn)


@dataclass(frozen=True, slots=True)
class RuleStats:
    """Evidence of what passed too: a compliance report needs the denominators."""

    rule_id: str
    evaluated: int = 0
    failed: int = 0
    exempt: int = 0
    unknown: int = 0

    @property
    def passed(self) -> int:
        return self.evaluated - self.failed - self.exempt - self.unknown


@dataclass(frozen=True, slots=True)
class Evaluation:
    snapshot_id: str
    evaluated_at: datetime
    findings: tuple[Finding, ...]
    stats: tuple[RuleStats, ...]


@dataclass(frozen=True, slots=True)
class TrackedFinding:
    """A finding with its history, as the store keeps it."""

    finding: Finding
    first_seen: datetime
    last_seen: datetime
    consecutive_cycles: int
    resolved_at: datetime | None = None

    @property
    def id(self) -> str:
        return self.finding.id


@dataclass(frozen=True, slots=True)
class FindingDelta:
    """What changed since the previous cycle: what Slack and the report's delta show."""

    new: tuple[TrackedFinding, ...]
    still_open: tuple[TrackedFinding, ...]
    resolved: tuple[TrackedFinding, ...]

    @property
    def open(self) -> tuple[TrackedFinding, ...]:
        return self.new + self.still_open


def group_by_kind(resources: Iterable[Resource]) -> dict[Kind, list[Resource]]:
    out: dict[Kind, list[Resource]] = {}
    for r in resources:
        out.setdefault(r.kind, []).append(r)
    return out


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a report, an alert or a remediation plan needs to know about a rule."""

    id: str
    title: str
    severity: Severity
    kind: Kind
    description: str
    rationale: str
    remediation: str
    # framework name -> control ids, e.g. {"NIST 800-53": ("CM-2",), "PCI DSS v4": ("2.2.1",)}
    frameworks: Mapping[str, tuple[str, ...]]
    # the automatic action the remediation planner may take, if any (e.g. "replace")
    action: str | None = None
    # True when replacing the resource cannot fix the finding (the source carries it)
    source_caused: bool = False
    # every kind the rule judges, when it judges more than `kind` (e.g. iac.unmanaged)
    kinds: tuple[Kind, ...] = ()

    @property
    def applies_to(self) -> tuple[Kind, ...]:
        return self.kinds or (self.kind,)


class ActionStatus(StrEnum):
    PLANNED = "planned"  # allowed; dry-run stops here
    HELD = "held"  # not allowed now (limits, window, in progress, exemption ...)
    EXECUTED = "executed"
    FAILED = "failed"
    NOT_APPLICABLE = "not_applicable"  # replacement would not fix it (source-caused, pet)


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One planned, held or executed remediation action: the audit trail of automation."""

    id: str
    cycle_id: str
    target_arn: str
    target_kind: str  # "autoscaling.group", "ecs.service", "eks.nodegroup", "ec2.instance"
    action: str  # "start_instance_refresh", "terminate_instance", "force_new_deployment", ...
    mode: str  # "off", "dry-run", "enforce"
    status: ActionStatus
    reason: str
    finding_ids: tuple[str, ...]
    account: str
    region: str
    at: datetime
    request_id: str | None = None
    response: Mapping[str, JSON] | None = None

    def to_json(self) -> dict[str, JSON]:
        return {
            "id": self.id,
            "cycle_id": self.cycle_id,
            "target_arn": self.target_arn,
            "target_kind": self.target_kind,
            "action": self.action,
            "mode": self.mode,
            "status": self.status.value,
            "reason": self.reason,
            "finding_ids": list(self.finding_ids),
            "account": self.account,
            "region": self.region,
            "at": iso(self.at),
            "request_id": self.request_id,
            "response": dict(self.response) if self.response is not None else None,
        }


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """An alert waiting for (or done with) delivery. `key` is its idempotency key."""

    key: str
    destination: str  # "webhook:<ENV VAR NAME>" or "channel:<#name or id>"
    payload: Mapping[str, JSON]  # the Slack message body (blocks, text)
    created_at: datetime
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None

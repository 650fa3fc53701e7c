"""The values the store takes and gives back, beyond the shared ones in auditor.model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from auditor.model import (
    AccessRecord,
    ActionRecord,
    Attribution,
    Evaluation,
    OutboxMessage,
    Resource,
    Severity,
    Snapshot,
    Status,
    TrackedFinding,
)


@dataclass(frozen=True, slots=True)
class CycleRecord:
    """Everything one cycle writes. commit_cycle stores it in ONE transaction."""

    snapshot: Snapshot
    evaluation: Evaluation | None
    # every finding touched this cycle (new, still open, resolved), lifecycle fields updated
    tracked: tuple[TrackedFinding, ...]
    actions: tuple[ActionRecord, ...] = ()
    outbox: tuple[OutboxMessage, ...] = ()
    report_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)  # counts for the canonical line
    events: tuple[EventRecord, ...] = ()  # feed events this cycle used (micro-cycles)
    # when the findings were judged (the delta's `now`: last_seen of an observed finding);
    # None: the evaluation's time
    seen_at: datetime | None = None
    # what is inside the ECR images this cycle saw, (digest, scope, redacted content): the
    # entries not stored yet are added (store/image_content.py)
    image_contents: tuple[tuple[str, str, Mapping[str, Any]], ...] = ()


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A feed event as the store keeps it: written with the cycle that used it, so an event
    whose id is stored was handled (a redelivery is only deleted from the queue)."""

    event_id: str
    detail_type: str
    event_name: str
    account: str
    region: str
    received_at: datetime
    arns: tuple[str, ...]  # the resources it named that the cycle re-collected
    attribution: Attribution | None = None
    access: tuple[AccessRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class CycleSummary:
    """One committed cycle as a list of cycles shows it."""

    id: str
    started_at: datetime
    finished_at: datetime
    resource_count: int
    gap_count: int
    api_calls: int
    evaluated_at: datetime | None
    report_id: str | None
    metadata: Mapping[str, Any]

    @property
    def complete(self) -> bool:
        return self.gap_count == 0


class ChainState(StrEnum):
    PENDING = "pending"  # committed with its cycle, not yet published
    FAILED = "failed"  # writing it failed (reason kept); the next run repairs it
    PUBLISHED = "published"  # in the chain at `sequence`
    MISSING = "missing"  # will never be published; declared in a later manifest


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """One report in the chain ledger (see store/chain.py)."""

    report_id: str
    cycle_id: str | None
    state: ChainState
    sequence: int | None
    manifest_sha256: str | None
    generated_at: str | None
    reason: str | None
    declared_in: str | None
    created_at: datetime


class FindingEventKind(StrEnum):
    """Transitions only. OPEN ("still open in this cycle") is what stores before migration
    0004 wrote every cycle; the migration folds those rows into the transitions."""

    NEW = "new"
    OPEN = "open"
    RESOLVED = "resolved"
    EXEMPT = "exempt"
    CHANGED = "changed"  # status or severity changed while open
    EXEMPTION_ENDED = "exemption_ended"


@dataclass(frozen=True, slots=True)
class FindingEvent:
    """What happened to one finding in one cycle (append-only history)."""

    cycle_id: str
    finding_id: str
    event: FindingEventKind
    status: Status
    severity: Severity
    at: datetime


@dataclass(frozen=True, slots=True)
class ResourceVersion:
    """One distinct configuration of a resource and the span of cycles that saw it.

    `resource.observed_at` is `first_seen`: the moment this configuration was first observed.
    """

    arn: str
    config_hash: str
    resource: Resource
    first_snapshot_id: str
    last_snapshot_id: str
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class PruneResult:
    """How many rows retention removed, per kind of row."""

    cycles: int = 0
    resource_versions: int = 0
    resource_configs: int = 0
    finding_events: int = 0
    findings: int = 0

    @property
    def total(self) -> int:
        return (
            self.cycles
            + self.resource_versions
            + self.resource_configs
            + self.finding_events
            + self.findings
        )

"""The values that pass between the stages of a cycle, and what every stage reads."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor.aws import AwsSessions
from auditor.collect.runner import ProgressCallback
from auditor.engine import Exemption, RuleSet
from auditor.errors import ExitCode
from auditor.model import (
    ActionRecord,
    Clock,
    CollectionGap,
    Evaluation,
    Finding,
    FindingDelta,
    OutboxMessage,
    RuleInfo,
    Severity,
    Snapshot,
    Status,
    TrackedFinding,
)
from auditor.notify import Subscription, plan_messages
from auditor.remediate.plan import Plan
from auditor.report.disk import LocalDisk
from auditor.report.errors import ReportWriteError
from auditor.report.signing import Signer
from auditor.settings import Settings, SlackConfig
from auditor.store import Store

RULE_FINGERPRINTS = "rule_fingerprints"  # cycle metadata: what evaluation reuse compares


@dataclass(frozen=True, slots=True)
class CycleOptions:
    fail_on: Severity = Severity.HIGH
    write_report: bool = True
    send_alerts: bool = True
    remediate: bool = True
    progress: ProgressCallback | None = None
    alert_deadline_seconds: float = 30.0
    # a full bundle even when nothing changed (otherwise such a cycle appends an attestation)
    full_report: bool = False
    # a notify Transport; the demo passes a capture. None: the configured channels.
    transport: Any = None
    # a run narrowed to part of the estate (`auditor scan --region ...`): open findings it
    # did not look at are carried over, never resolved
    looked_at: Callable[[Finding], bool] | None = None
    # the event feed's state for the report's coverage.events (the daemon sets it)
    events_coverage: Mapping[str, Any] | None = None
    # the file operations report bundles are written with (tests inject a full disk)
    report_disk: LocalDisk | None = None


@dataclass(frozen=True, slots=True)
class Preflight:
    """Everything that can be wrong before a cycle starts: bad rules, bad exemptions, a
    missing signing key. Checked before any AWS call or database write (exit code 2)."""

    rules: RuleSet
    exemptions: tuple[Exemption, ...]
    signer: Signer | None


@dataclass(frozen=True, slots=True)
class CycleContext:
    """What every stage of one cycle reads. The store's `fence` is the lease check: a daemon
    replica that lost its lease cannot commit nor act."""

    settings: Settings
    clock: Clock
    sessions: AwsSessions
    store: Store
    options: CycleOptions
    rules: RuleSet
    exemptions: tuple[Exemption, ...]
    signer: Signer | None = None

    @property
    def infos(self) -> dict[str, RuleInfo]:
        return {r.id: self.rules.info(r.id) for r in self.rules.rules}


@dataclass(frozen=True, slots=True)
class Prior:
    """What the store held before this cycle that the judge compares with: the open findings
    and the rule fingerprints the latest cycle evaluated with."""

    open_findings: Mapping[str, TrackedFinding]
    fingerprints: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Collected:
    """Stage 1 out: the live estate, the previous cycle's snapshot it is compared with, and
    what else the store held before this cycle (read while AWS was answering)."""

    snapshot: Snapshot
    previous: Snapshot | None
    prior: Prior


@dataclass(frozen=True, slots=True)
class Judged:
    """Stage 2 out: the snapshot with declared state, the findings, and what changed."""

    snapshot: Snapshot
    evaluation: Evaluation
    delta: FindingDelta
    now: datetime


@dataclass(frozen=True, slots=True)
class AlertPlan:
    """How this cycle's alerts are planned: once before the commit, once more after acting
    (same keys for the same news; new ones for what was done)."""

    delta: FindingDelta
    gaps: tuple[CollectionGap, ...]
    infos: Mapping[str, RuleInfo]
    slack: SlackConfig
    also: tuple[Subscription, ...]
    report_url: str | None
    now: datetime
    gap_alerts: Mapping[str, datetime] = field(default_factory=dict)

    def messages(self, actions: tuple[ActionRecord, ...]) -> tuple[OutboxMessage, ...]:
        return plan_messages(
            self.delta,
            self.gaps,
            actions,
            self.infos,
            self.slack,
            self.report_url,
            self.now,
            self.gap_alerts,
            self.also,
        )


@dataclass(frozen=True, slots=True)
class Decided:
    """Stage 3 out: the remediation plan, the action records committed with it, the alert
    messages, and the report id the cycle owes. `alerts` is None when nothing listens."""

    snapshot: Snapshot
    plan: Plan
    actions: tuple[ActionRecord, ...]
    messages: tuple[OutboxMessage, ...]
    alerts: AlertPlan | None
    report_id: str | None
    enforcing: bool


@dataclass(frozen=True, slots=True)
class Publication:
    """Stage 6 out: the bundle written, or the write error to raise once alerts went out."""

    report_dir: Path | None = None
    error: ReportWriteError | None = None


@dataclass(frozen=True, slots=True)
class Delivered:
    """Stage 7 out: alerts sent now, and alerts still pending (retried next cycle)."""

    sent: int = 0
    pending: int = 0


@dataclass(frozen=True, slots=True)
class CycleResult:
    cycle_id: str
    snapshot: Snapshot
    evaluation: Evaluation
    delta: FindingDelta
    actions: tuple[ActionRecord, ...] = ()
    report_dir: Path | None = None
    alerts_sent: int = 0
    alerts_pending: int = 0
    duration_seconds: float = 0.0
    counts: Mapping[str, Any] = field(default_factory=dict)

    def exit_code(self, fail_on: Severity) -> ExitCode:
        """3 when collection was incomplete (the result cannot be trusted as a pass), else 1
        when a failing finding is at or above `fail_on`, else 0."""
        if not self.snapshot.complete:
            return ExitCode.INCOMPLETE
        if any(
            f.status is Status.FAIL and f.severity.at_least(fail_on)
            for f in self.evaluation.findings
        ):
            return ExitCode.VIOLATIONS
        return ExitCode.OK

"""Prometheus metrics of the daemon, in their own registry (no global state).

docs/operations.md lists every metric with its meaning and the alerts to set on it.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from auditor.model import KIND_SERVICE, Kind, Service

if TYPE_CHECKING:
    from auditor.collect.units import UnitDone
    from auditor.pipeline import CycleResult

CYCLE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)
UNIT_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.cycle_duration = Histogram(
            "auditor_cycle_duration_seconds",
            "Duration of committed audit cycles",
            buckets=CYCLE_BUCKETS,
            registry=r,
        )
        self.cycles = Counter(
            "auditor_cycles",
            "Audit cycles run by this replica, by result: complete, incomplete, error, abandoned",
            ["result"],
            registry=r,
        )
        self.cycles_skipped = Counter(
            "auditor_cycles_skipped",
            "Scheduled cycle runs skipped because the previous cycle was still running "
            "or the run was later than the misfire grace time",
            registry=r,
        )
        self.cycle_in_progress = Gauge(
            "auditor_cycle_in_progress", "1 while this replica runs a cycle", registry=r
        )
        self.last_cycle = Gauge(
            "auditor_last_cycle_timestamp_seconds",
            "End time of the newest cycle committed to the store, by any replica",
            registry=r,
        )
        self.resources = Gauge(
            "auditor_resources", "Resources in the last snapshot, by kind", ["kind"], registry=r
        )
        self.api_calls = Counter(
            "auditor_aws_api_calls",
            "AWS API calls made by cycles",
            ["service", "operation"],
            registry=r,
        )
        self.api_errors = Counter(
            "auditor_aws_api_errors",
            "AWS API error responses (4xx/5xx), including those retried successfully",
            ["service", "operation"],
            registry=r,
        )
        self.gap_errors = Counter(
            "auditor_gap_errors",
            "AWS errors that still failed after retries and left a collection gap",
            ["service", "error_code"],
            registry=r,
        )
        self.gaps = Gauge(
            "auditor_collection_gaps",
            "Collection gaps in the last cycle, by service (0 = complete)",
            ["service"],
            registry=r,
        )
        self.findings = Gauge(
            "auditor_findings",
            "Findings of the last cycle, by rule, severity and status (fail, unknown, exempt)",
            ["rule", "severity", "status"],
            registry=r,
        )
        self.findings_new = Counter(
            "auditor_findings_new", "Findings opened by cycles", ["severity"], registry=r
        )
        self.findings_resolved = Counter(
            "auditor_findings_resolved", "Findings resolved by cycles", ["severity"], registry=r
        )
        self.alerts_sent = Counter("auditor_alerts_sent", "Slack messages delivered", registry=r)
        self.alerts_pending = Gauge(
            "auditor_alerts_pending",
            "Slack messages waiting in the outbox after the last cycle",
            registry=r,
        )
        self.actions = Counter(
            "auditor_remediation_actions",
            "Remediation actions planned or taken, by status",
            ["status"],
            registry=r,
        )
        self.last_cycle_failed = Gauge(
            "auditor_last_cycle_failed",
            "1 when this replica's last cycle raised instead of committing (it keeps "
            "scheduling); 0 after a committed cycle",
            registry=r,
        )
        self.stage_failures = Counter(
            "auditor_stage_failures",
            "Pipeline stages after collection that crashed and were recorded as coverage "
            "gaps (auditor:<stage>), by stage",
            ["stage"],
            registry=r,
        )
        self.leader = Gauge(
            "auditor_leader", "1 when this replica holds the scheduler lease", registry=r
        )
        self.events = Counter(
            "auditor_events",
            "Feed events received, by result: handled, duplicate, retry (left on the queue), "
            "poison (dead-lettered)",
            ["result"],
            registry=r,
        )
        self.micro_cycles = Counter(
            "auditor_micro_cycles", "Micro-cycles committed (event-driven)", registry=r
        )
        self.event_latency = Histogram(
            "auditor_event_to_finding_seconds",
            "Queue receive to committed findings and queued alerts, per micro-cycle",
            buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=r,
        )
        # labelled by queue so that a daemon without a feed exports no sample at all
        self.feed_healthy = Gauge(
            "auditor_event_feed_healthy",
            "1 while the event feed is read and current; 0 = falling back to the full schedule",
            ["queue"],
            registry=r,
        )
        self.feed_lag = Gauge(
            "auditor_event_feed_lag_seconds",
            "Age of the oldest message of the last batch received",
            ["queue"],
            registry=r,
        )

        self.unit_duration = Histogram(
            "auditor_unit_duration_seconds",
            "Duration of (account, region, service) collection units, by service",
            ["service"],
            buckets=UNIT_BUCKETS,
            registry=r,
        )
        self.units = Counter(
            "auditor_units",
            "Collection units by service and outcome: done, timeout, lost, no_worker, "
            "broker_unavailable, failed",
            ["service", "outcome"],
            registry=r,
        )
        self.unit_gaps = Counter(
            "auditor_unit_gaps",
            "Collection gaps recorded by units, by service",
            ["service"],
            registry=r,
        )
        self.unit_retries = Counter(
            "auditor_unit_retries",
            "AWS call attempts retried by botocore within units, by service",
            ["service"],
            registry=r,
        )
        self.unit_throttles = Counter(
            "auditor_unit_throttles",
            "AWS throttling responses met by units, by service",
            ["service"],
            registry=r,
        )

    def observe_failure(self, services: Iterable[Service]) -> None:
        """A cycle that raised: nothing was read as far as anyone can tell, so every service
        in scope shows a gap until a cycle commits."""
        self.last_cycle_failed.set(1)
        for service in services:
            self.gaps.labels(service=service.value).set(1)

    def observe_unit(self, unit: UnitDone) -> None:
        """One finished unit (in-process or on a worker), as the leader learns of it."""
        service = unit.service.value
        self.unit_duration.labels(service=service).observe(unit.duration_seconds)
        self.units.labels(service=service, outcome=unit.outcome).inc()
        self.unit_gaps.labels(service=service).inc(unit.gaps)
        self.unit_retries.labels(service=service).inc(unit.retries)
        self.unit_throttles.labels(service=service).inc(unit.throttles)

    def observe_cycle(self, result: CycleResult) -> None:
        """Update every per-cycle metric from one committed cycle's result."""
        snap = result.snapshot
        self.cycle_duration.observe(result.duration_seconds)
        self.cycles.labels(result="complete" if snap.complete else "incomplete").inc()
        self.last_cycle.set(snap.finished_at.timestamp())

        self.resources.clear()
        for scanned in Kind:  # a kind that is scanned but has none shows 0, not nothing
            if KIND_SERVICE.get(scanned) in snap.scope.services:
                self.resources.labels(kind=scanned.value).set(0)
        for kind, n in sorted(Tally(r.kind.value for r in snap.resources).items()):
            self.resources.labels(kind=kind).set(n)

        for name, n in snap.api_calls.items():
            service, _, operation = name.partition(":")
            self.api_calls.labels(service=service, operation=operation).inc(n)
        for name, n in dict(result.counts.get("api_errors") or {}).items():
            service, _, operation = str(name).partition(":")
            self.api_errors.labels(service=service, operation=operation).inc(int(n))

        self.last_cycle_failed.set(0)
        for stage in sorted({g.operation for g in snap.gaps if g.operation.startswith("auditor:")}):
            self.stage_failures.labels(stage=stage.removeprefix("auditor:")).inc()
        self.gaps.clear()
        for service in snap.scope.services:
            self.gaps.labels(service=service.value).set(0)
        for gap in snap.gaps:
            self.gaps.labels(service=gap.service.value).inc()
            self.gap_errors.labels(service=gap.service.value, error_code=gap.error_code).inc()

        self.findings.clear()
        tally = Tally(
            (f.rule_id, f.severity.value, f.status.value) for f in result.evaluation.findings
        )
        for (rule, severity, status), n in sorted(tally.items()):
            self.findings.labels(rule=rule, severity=severity, status=status).set(n)
        for tracked in result.delta.new:
            self.findings_new.labels(severity=tracked.finding.severity.value).inc()
        for tracked in result.delta.resolved:
            self.findings_resolved.labels(severity=tracked.finding.severity.value).inc()

        self.alerts_sent.inc(result.alerts_sent)
        self.alerts_pending.set(result.alerts_pending)
        for action in result.actions:
            self.actions.labels(status=action.status.value).inc()

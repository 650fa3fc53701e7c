"""Prometheus metrics of the daemon, in their own registry (no global state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from auditor.pipeline import CycleResult


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.cycle_duration = Histogram(
            "auditor_cycle_duration_seconds",
            "Duration of audit cycles",
            buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600),
            registry=r,
        )
        self.cycles = Counter(
            "auditor_cycles_total", "Audit cycles by result", ["result"], registry=r
        )
        self.last_cycle = Gauge(
            "auditor_last_cycle_timestamp_seconds",
            "End time of the last completed cycle",
            registry=r,
        )
        self.resources = Gauge(
            "auditor_resources", "Resources in the last snapshot", ["kind"], registry=r
        )
        self.api_calls = Counter(
            "auditor_aws_api_calls_total", "AWS API calls", ["service", "operation"], registry=r
        )
        self.api_errors = Counter(
            "auditor_aws_api_errors_total",
            "AWS API error responses",
            ["service", "operation"],
            registry=r,
        )
        self.gaps = Gauge(
            "auditor_collection_gaps", "Collection gaps in the last cycle", ["service"], registry=r
        )
        self.findings = Gauge(
            "auditor_findings",
            "Findings in the last cycle",
            ["rule", "severity", "status"],
            registry=r,
        )
        self.alerts_sent = Counter(
            "auditor_alerts_sent_total", "Slack messages delivered", registry=r
        )
        self.alerts_pending = Gauge(
            "auditor_alerts_pending", "Slack messages waiting in the outbox", registry=r
        )
        self.actions = Counter(
            "auditor_remediation_actions_total",
            "Remediation actions by status",
            ["status"],
            registry=r,
        )
        self.leader = Gauge(
            "auditor_leader", "1 when this replica holds the scheduler lease", registry=r
        )

    def observe_cycle(self, result: CycleResult) -> None:
        """Update every metric from one cycle's result."""
        snap = result.snapshot
        self.cycle_duration.observe(result.duration_seconds)
        self.cycles.labels(result="complete" if snap.complete else "incomplete").inc()
        self.last_cycle.set(snap.finished_at.timestamp())
        self.resources.clear()
        for kind, n in result.counts.get("resources_by_kind", {}).items():
            self.resources.labels(kind=kind).set(n)
        for name, n in snap.api_calls.items():
            service, _, operation = name.partition(":")
            self.api_calls.labels(service=service, operation=operation).inc(n)
        for name, n in result.counts.get("api_errors", {}).items():
            service, _, operation = name.partition(":")
            self.api_errors.labels(service=service, operation=operation).inc(n)
        self.gaps.clear()
        for gap in snap.gaps:
            self.gaps.labels(service=gap.service.value).inc()
        self.findings.clear()
        counts: dict[tuple[str, str, str], int] = {}
        for f in result.evaluation.findings:
            key = (f.rule_id, f.severity.value, f.status.value)
            counts[key] = counts.get(key, 0) + 1
        for (rule, severity, status), n in counts.items():
            self.findings.labels(rule=rule, severity=severity, status=status).set(n)
        self.alerts_sent.inc(result.alerts_sent)
        self.alerts_pending.set(result.alerts_pending)
        for action in result.actions:
            self.actions.labels(status=action.status.value).inc()

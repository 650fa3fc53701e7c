"""What /metrics says after a cycle with resources, a gap, findings, alerts and actions."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import generate_latest

from auditor.metrics import Metrics
from auditor.model import (
    ActionRecord,
    ActionStatus,
    CollectionGap,
    Evaluation,
    Finding,
    FindingDelta,
    Kind,
    Resource,
    ResourceRef,
    Scope,
    Service,
    Severity,
    Snapshot,
    Status,
    TrackedFinding,
)
from auditor.pipeline import CycleResult
from tests.daemon.processes import metric_samples

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ACCOUNT, REGION = "123456789012", "us-east-1"


def _instance(n: int) -> Resource:
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-{n:04d}"
    return Resource(Kind.EC2_INSTANCE, arn, f"i-{n:04d}", ACCOUNT, REGION, {}, {}, NOW)


def _finding(rule: str, severity: Severity, status: Status, n: int) -> Finding:
    r = _instance(n)
    return Finding(
        rule, severity, status, ResourceRef(r.arn, r.id, r.kind, ACCOUNT, REGION), "m", {}
    )


def _result() -> CycleResult:
    gap = CollectionGap(
        ACCOUNT,
        REGION,
        Service.ECS,
        (Kind.ECS_CLUSTER,),
        "ecs:ListClusters",
        "AccessDeniedException",
        "denied",
    )
    snapshot = Snapshot(
        "c1",
        NOW,
        NOW,
        Scope((ACCOUNT,), (REGION,), (Service.EC2, Service.ECS)),
        tuple(_instance(n) for n in range(3)),
        (gap,),
        {"ec2:DescribeInstances": 2, "ecs:ListClusters": 3},
    )
    findings = (
        _finding("ec2.max_age", Severity.HIGH, Status.FAIL, 0),
        _finding("ec2.max_age", Severity.HIGH, Status.FAIL, 1),
        _finding("ec2.imdsv2", Severity.MEDIUM, Status.UNKNOWN, 2),
    )
    new = TrackedFinding(findings[0], NOW, NOW, 1)
    resolved = TrackedFinding(
        _finding("ec2.public_ip", Severity.LOW, Status.FAIL, 2), NOW, NOW, 3, NOW
    )
    action = ActionRecord(
        "a1", "c1", "arn", "ec2.instance", "terminate_instance", "dry-run",
        ActionStatus.PLANNED, "r", (), ACCOUNT, REGION, NOW,
    )  # fmt: skip
    return CycleResult(
        "c1",
        snapshot,
        Evaluation("c1", NOW, findings, ()),
        FindingDelta((new,), (), (resolved,)),
        actions=(action,),
        alerts_sent=2,
        alerts_pending=1,
        duration_seconds=3.5,
        counts={"api_errors": {"ecs:ListClusters": 3}},
    )


def test_a_cycle_result_becomes_the_documented_metrics() -> None:
    """Resources by kind (0 for a scanned kind with none), gaps by service (0 where
    complete), API calls and errors, findings by rule/severity/status, alerts and actions."""
    metrics = Metrics()
    metrics.observe_cycle(_result())
    text = generate_latest(metrics.registry).decode()

    def samples(name: str) -> dict[tuple[tuple[str, str], ...], float]:
        return metric_samples(text, name)

    assert {(("result", "incomplete"),): 1.0} == samples("auditor_cycles_total")
    assert 3.0 == samples("auditor_resources")[(("kind", "ec2.instance"),)]
    assert 0.0 == samples("auditor_resources")[(("kind", "ecs.service"),)]
    assert {(("service", "ec2"),): 0.0, (("service", "ecs"),): 1.0} == samples(
        "auditor_collection_gaps"
    )
    assert {(("error_code", "AccessDeniedException"), ("service", "ecs")): 1.0} == samples(
        "auditor_gap_errors_total"
    )
    assert {(("operation", "ListClusters"), ("service", "ecs")): 3.0} == samples(
        "auditor_aws_api_errors_total"
    )
    assert (
        2.0
        == samples("auditor_aws_api_calls_total")[
            (("operation", "DescribeInstances"), ("service", "ec2"))
        ]
    )
    assert {
        (("rule", "ec2.imdsv2"), ("severity", "medium"), ("status", "unknown")): 1.0,
        (("rule", "ec2.max_age"), ("severity", "high"), ("status", "fail")): 2.0,
    } == samples("auditor_findings")
    assert {(("severity", "high"),): 1.0} == samples("auditor_findings_new_total")
    assert {(("severity", "low"),): 1.0} == samples("auditor_findings_resolved_total")
    assert {(): 2.0} == samples("auditor_alerts_sent_total")
    assert {(): 1.0} == samples("auditor_alerts_pending")
    assert {(("status", "planned"),): 1.0} == samples("auditor_remediation_actions_total")
    assert {(): NOW.timestamp()} == samples("auditor_last_cycle_timestamp_seconds")
    assert {(): 1.0} == samples("auditor_cycle_duration_seconds_count")


def test_the_last_cycle_replaces_per_cycle_gauges() -> None:
    """Gauges describe the LAST cycle: a finding fixed since is not reported any more."""
    metrics = Metrics()
    metrics.observe_cycle(_result())
    first = _result()
    clean = CycleResult(
        "c2",
        first.snapshot,
        Evaluation("c2", NOW, (), ()),
        FindingDelta((), (), ()),
    )
    metrics.observe_cycle(clean)
    text = generate_latest(metrics.registry).decode()
    assert {} == metric_samples(text, "auditor_findings")
    assert 2.0 == sum(metric_samples(text, "auditor_cycles_total").values())

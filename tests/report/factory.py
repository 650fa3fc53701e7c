"""Realistic ReportInput values for report tests and bench/report.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from auditor.model import (
    ActionRecord,
    ActionStatus,
    CollectionGap,
    Evaluation,
    ExemptionRef,
    Finding,
    FindingDelta,
    Kind,
    ResourceRef,
    RuleInfo,
    RuleStats,
    Scope,
    Service,
    Severity,
    Status,
    TrackedFinding,
)
from auditor.report.input import ExemptionInfo, ReportInput, SnapshotInfo, TrendPoint

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")

RULES: dict[str, RuleInfo] = {
    r.id: r
    for r in (
        RuleInfo(
            id="ec2.ssh_keypair_attached",
            title="Instance launched with an SSH key pair",
            severity=Severity.HIGH,
            kind=Kind.EC2_INSTANCE,
            description="An immutable instance needs no SSH key.",
            rationale="SSH access allows changes in place.",
            remediation="Replace the instance from a launch template without a key pair.",
            frameworks={
                "NIST 800-53": ("CM-2", "AC-17"),
                "CIS": ("5.2",),
                "PCI DSS v4": ("2.2.1",),
                "SOC 2": ("CC8.1",),
            },
            action="replace",
        ),
        RuleInfo(
            id="ec2.max_age",
            title="Instance older than the maximum age",
            severity=Severity.MEDIUM,
            kind=Kind.EC2_INSTANCE,
            description="Instances are replaced regularly.",
            rationale="Old instances drift from their image.",
            remediation="Start an instance refresh.",
            frameworks={"NIST 800-53": ("CM-2",), "SOC 2": ("CC7.1",)},
            action="replace",
        ),
        RuleInfo(
            id="ecs.task_definition_secrets_in_env",
            title="Secret in a task definition's environment",
            severity=Severity.CRITICAL,
            kind=Kind.ECS_TASK_DEFINITION,
            description="Secrets belong in Secrets Manager.",
            rationale="Environment variables leak.",
            remediation="Move the value to Secrets Manager.",
            frameworks={"PCI DSS v4": ("8.3.2",), "NIST 800-53": ("IA-5",)},
        ),
    )
}

GAP = CollectionGap(
    account=ACCOUNTS[1],
    region="eu-west-1",
    service=Service.ECS,
    kinds=(Kind.ECS_TASK_DEFINITION,),
    operation="ecs:ListTaskDefinitions",
    error_code="AccessDeniedException",
    message="User is not authorized to perform: ecs:ListTaskDefinitions",
)


def _finding(i: int) -> Finding:
    rule = list(RULES.values())[i % 2]
    account = ACCOUNTS[i % 2]
    region = REGIONS[(i // 2) % 2]
    rid = f"i-{i:017x}"
    status = Status.FAIL
    exemption = None
    if i % 10 == 9:
        status = Status.EXEMPT
        exemption = ExemptionRef("config", "legacy batch host", "team-batch", "2027-01-31")
    return Finding(
        rule_id=rule.id,
        severity=rule.severity,
        status=status,
        resource=ResourceRef(
            arn=f"arn:aws:ec2:{region}:{account}:instance/{rid}",
            id=rid,
            kind=Kind.EC2_INSTANCE,
            account=account,
            region=region,
            tags={"team": "web", "Name": f"web-{i}"},
        ),
        message=f"{rid} has key pair deploy-key" if i % 2 == 0 else f"{rid} is 31 days old",
        evidence={"key_name": "deploy-key", "launch_time": "2026-10-22T12:00:00+00:00", "n": i},
        exemption=exemption,
    )


def make_input(
    n_findings: int = 6,
    with_gap: bool = False,
    generated_at: datetime = NOW,
    snapshot_id: str = "snap-0001",
) -> ReportInput:
    findings = [_finding(i) for i in range(n_findings)]
    if with_gap:
        findings.append(
            Finding(
                rule_id="ecs.task_definition_secrets_in_env",
                severity=Severity.CRITICAL,
                status=Status.UNKNOWN,
                resource=ResourceRef(
                    arn=f"arn:aws:ecs:eu-west-1:{ACCOUNTS[1]}:task-definition/*",
                    id="*",
                    kind="scope",
                    account=ACCOUNTS[1],
                    region="eu-west-1",
                ),
                message="could not list task definitions: AccessDeniedException",
                evidence={"gap": GAP.to_json()},
            )
        )
    stats = []
    for rule_id in RULES:
        mine = [f for f in findings if f.rule_id == rule_id]
        stats.append(
            RuleStats(
                rule_id=rule_id,
                evaluated=len(mine) + 10,
                failed=sum(f.status is Status.FAIL for f in mine),
                exempt=sum(f.status is Status.EXEMPT for f in mine),
                unknown=sum(f.status is Status.UNKNOWN for f in mine),
            )
        )
    tracked = [
        TrackedFinding(f, generated_at - timedelta(days=3), generated_at, 4) for f in findings
    ]
    new = tuple(tracked[: max(1, len(tracked) // 3)])
    resolved_finding = _finding(10_000_001)
    resolved = TrackedFinding(
        resolved_finding,
        generated_at - timedelta(days=9),
        generated_at - timedelta(hours=1),
        5,
        resolved_at=generated_at,
    )
    action = ActionRecord(
        id="act-1",
        cycle_id=snapshot_id,
        target_arn=findings[0].resource.arn if findings else "arn:aws:ec2:::instance/none",
        target_kind="ec2.instance",
        action="terminate_instance",
        mode="dry-run",
        status=ActionStatus.PLANNED,
        reason="ssh key pair attached for 2 cycles",
        finding_ids=(findings[0].id,) if findings else (),
        account=ACCOUNTS[0],
        region="us-east-1",
        at=generated_at,
    )
    return ReportInput(
        snapshot=SnapshotInfo(
            id=snapshot_id,
            started_at=generated_at - timedelta(minutes=2),
            finished_at=generated_at - timedelta(minutes=1),
            scope=Scope(ACCOUNTS, REGIONS, (Service.EC2, Service.ECS)),
            gaps=(GAP,) if with_gap else (),
            api_calls={"ec2:DescribeInstances": 4, "ecs:ListTaskDefinitions": 2},
        ),
        evaluation=Evaluation(snapshot_id, generated_at, tuple(findings), tuple(stats)),
        delta=FindingDelta(new=new, still_open=tuple(tracked[len(new) :]), resolved=(resolved,)),
        rules=RULES,
        generated_at=generated_at,
        tool_version="0.1.0",
        rules_version="builtin-2026.11",
        exemptions=(
            ExemptionInfo(
                "ec2.max_age",
                "arn:aws:ec2:*:*:instance/i-0abc*",
                "legacy batch host",
                "team-batch",
                date(2027, 1, 31),
                expired=False,
            ),
            ExemptionInfo(
                "ec2.ssh_keypair_attached",
                "*",
                "migration",
                "team-x",
                date(2026, 10, 1),
                expired=True,
            ),
        ),
        actions=(action,),
        trend=(
            TrendPoint(generated_at - timedelta(days=2), 0.8, 3),
            TrendPoint(generated_at - timedelta(days=1), 0.75, 4),
        ),
        evaluated_by_account={ACCOUNTS[0]: 20, ACCOUNTS[1]: 20},
    )

"""Realistic store content for the web app's tests: two cycles over a small fleet (one
instance changed in place between them), findings of several rules, severities, statuses
and accounts, one action waiting for approval, and two signed report bundles."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from auditor.model import (
    ActionRecord,
    ActionStatus,
    Finding,
    Kind,
    Resource,
    Scope,
    Service,
    Severity,
    Snapshot,
    Status,
    TrackedFinding,
)
from auditor.remediate.approvals import AWAITING
from auditor.report.bundle import BundleInfo, write_bundle
from auditor.report.signing import Ed25519Signer
from auditor.store import CycleRecord, Store
from tests.report.factory import make_input

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("eu-west-1", "us-east-1")
RULES = (
    ("ec2.ssh_keypair_attached", Severity.HIGH),
    ("ec2.max_age", Severity.MEDIUM),
    ("ec2.imdsv2_required", Severity.LOW),
)


@dataclass(frozen=True)
class Seeded:
    resources: tuple[Resource, ...]
    findings: tuple[Finding, ...]
    changed_arn: str
    awaiting_action_id: str
    bundles: tuple[BundleInfo, ...]


def _instance(n: int, at: datetime, instance_type: str = "t3.micro") -> Resource:
    account, region = ACCOUNTS[n % 2], REGIONS[(n // 2) % 2]
    iid = f"i-{n:017x}"
    return Resource(
        kind=Kind.EC2_INSTANCE,
        arn=f"arn:aws:ec2:{region}:{account}:instance/{iid}",
        id=iid,
        account=account,
        region=region,
        tags={"Name": f"web-{n}", "owner": "team-web" if n % 3 else "team-data"},
        attributes={"InstanceType": instance_type, "ImageId": "ami-0123456789abcdef0",
                    "KeyName": "deploy", "MetadataOptions": {"HttpTokens": "optional"}},
        observed_at=at,
    )  # fmt: skip


def _snapshot(sid: str, resources: tuple[Resource, ...], at: datetime) -> Snapshot:
    return Snapshot(
        id=sid,
        started_at=at,
        finished_at=at + timedelta(seconds=30),
        scope=Scope(accounts=ACCOUNTS, regions=REGIONS, services=(Service.EC2,)),
        resources=resources,
        gaps=(),
        api_calls={"ec2:DescribeInstances": 4},
    )


def _findings(resources: tuple[Resource, ...]) -> tuple[Finding, ...]:
    out = []
    for n, r in enumerate(resources):
        for k, (rule, severity) in enumerate(RULES):
            if (n + k) % 2 and k:
                continue
            status = Status.FAIL
            if n == 5 and k == 0:
                status = Status.UNKNOWN
            out.append(
                Finding(
                    rule_id=rule,
                    severity=severity,
                    status=status,
                    resource=r.ref,
                    message=f"{r.id}: {rule}",
                    evidence={"KeyName": "deploy"},
                )
            )
    return tuple(out)


def seed(store: Store, reports: Path, signer: Ed25519Signer, t0: datetime) -> Seeded:
    first = tuple(_instance(n, t0) for n in range(8))
    t1 = t0 + timedelta(hours=1)
    second = tuple(_instance(n, t1, "t3.large" if n == 0 else "t3.micro") for n in range(8))
    findings = _findings(second)
    tracked = tuple(TrackedFinding(f, t0, t0, 1) for f in findings)
    store.commit_cycle(CycleRecord(_snapshot("c1", first, t0), None, tracked))
    awaiting = ActionRecord(
        id="a" * 32,
        cycle_id="c2",
        target_arn=second[1].arn,
        target_kind="ec2.instance",
        action="terminate_instance",
        mode="enforce",
        status=ActionStatus.HELD,
        reason=f"{AWAITING} (rule ec2.max_age): replace the instance",
        finding_ids=tuple(f.id for f in findings if f.resource.arn == second[1].arn),
        account=second[1].account,
        region=second[1].region,
        at=t1,
    )
    store.commit_cycle(
        CycleRecord(
            _snapshot("c2", second, t1),
            None,
            tuple(replace(t, last_seen=t1, consecutive_cycles=2) for t in tracked),
            actions=(awaiting,),
        )
    )
    bundles = tuple(
        write_bundle(
            make_input(generated_at=t0 + timedelta(hours=i), snapshot_id=f"s{i}"), reports, signer
        )
        for i in range(2)
    )
    return Seeded(second, findings, second[0].arn, awaiting.id, bundles)

"""Small builders of the values a cycle stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from auditor.model import (
    CollectionGap,
    Finding,
    Kind,
    OutboxMessage,
    Resource,
    Scope,
    Service,
    Severity,
    Snapshot,
    Status,
    TrackedFinding,
)

T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
REGION = "eu-west-1"


def instance(n: int, *, at: datetime = T0, **attributes: object) -> Resource:
    """An EC2 instance resource with a stable ARN per `n`."""
    iid = f"i-{n:017x}"
    attrs: dict[str, object] = {
        "InstanceType": "t3.micro",
        "ImageId": "ami-0123456789abcdef0",
        "LaunchTime": "2026-10-01T00:00:00+00:00",
        "SecurityGroups": [{"GroupId": "sg-1", "GroupName": "web"}],
        "Ratio": 0.25,
        "Unicode": "café ☕",
    }
    attrs.update(attributes)
    return Resource(
        kind=Kind.EC2_INSTANCE,
        arn=f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{iid}",
        id=iid,
        account=ACCOUNT,
        region=REGION,
        tags={"Name": f"web-{n}", "team": "payments"},
        attributes=attrs,
        observed_at=at,
    )


def snapshot(
    snapshot_id: str,
    resources: tuple[Resource, ...],
    *,
    at: datetime = T0,
    gaps: tuple[CollectionGap, ...] = (),
) -> Snapshot:
    return Snapshot(
        id=snapshot_id,
        started_at=at,
        finished_at=at + timedelta(seconds=42),
        scope=Scope(accounts=(ACCOUNT,), regions=(REGION,), services=(Service.EC2,)),
        resources=resources,
        gaps=gaps,
        api_calls={"ec2:DescribeInstances": 3, "ec2:DescribeImages": 1},
    )


def tracked(
    resource: Resource,
    *,
    first: datetime,
    last: datetime,
    cycles: int,
    status: Status = Status.FAIL,
    resolved_at: datetime | None = None,
) -> TrackedFinding:
    finding = Finding(
        rule_id="ec2.ssh_keypair_attached",
        severity=Severity.HIGH,
        status=status,
        resource=resource.ref,
        message="instance has key pair 'ops'",
        evidence={"KeyName": "ops", "nested": {"list": [1, 2.5, None, True]}},
    )
    return TrackedFinding(
        finding=finding,
        first_seen=first,
        last_seen=last,
        consecutive_cycles=cycles,
        resolved_at=resolved_at,
    )


def message(key: str, at: datetime = T0) -> OutboxMessage:
    return OutboxMessage(
        key=key,
        destination="webhook:AUDITOR_SLACK_WEBHOOK",
        payload={"text": f"alert {key}", "blocks": [{"type": "section"}]},
        created_at=at,
    )


def alembic_head() -> str:
    """The newest revision of the migrations shipped in the package."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from auditor.store.engine import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head

"""The runner fans out over accounts x regions x services and never hides what it missed."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from auditor.aws import AwsSessions
from auditor.collect.base import CollectResult, PreviousState, UnitContext
from auditor.collect.runner import collect, resolve_targets
from auditor.model import FixedClock, Kind, Resource, Service
from auditor.settings import Settings

CLOCK = FixedClock(datetime(2026, 11, 22, 12, tzinfo=UTC))
SECOND = "222222222222"


def _settings(**kwargs: object) -> Settings:
    return Settings(**kwargs)  # type: ignore[arg-type]


def _instance_reader(ctx: UnitContext) -> CollectResult:
    """A collector that lists instances through the account's own client."""
    ec2 = ctx.client("ec2")
    out = []
    for page in ec2.get_paginator("describe_instances").paginate():
        for res in page["Reservations"]:
            for inst in res["Instances"]:
                out.append(
                    Resource(
                        kind=Kind.EC2_INSTANCE,
                        arn=f"arn:aws:ec2:{ctx.region}:{ctx.account}:instance/{inst['InstanceId']}",
                        id=inst["InstanceId"],
                        account=ctx.account,
                        region=ctx.region,
                        tags={},
                        attributes={},
                        observed_at=ctx.clock.now(),
                    )
                )
    return CollectResult(resources=tuple(out))


def _broken(ctx: UnitContext) -> CollectResult:
    raise KeyError("a bug in a collector")


def test_assume_role_into_second_account_and_every_region(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each account is read with its own assumed role, in each configured region."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        for region in ("us-east-1", "eu-west-1"):
            creds = boto3.client("sts", region_name=region).assume_role(
                RoleArn=f"arn:aws:iam::{SECOND}:role/auditor", RoleSessionName="seed"
            )["Credentials"]
            ec2 = boto3.client(
                "ec2",
                region_name=region,
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
            ec2.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2)
        settings = _settings(
            accounts=[
                {"id": "123456789012"},
                {"id": SECOND, "role_arn": f"arn:aws:iam::{SECOND}:role/auditor"},
            ],
            regions=["us-east-1", "eu-west-1"],
            services=["ec2"],
        )
        sessions = AwsSessions(base=boto3.Session(region_name="us-east-1"))
        snap = collect(
            settings, sessions, CLOCK, PreviousState(), registry={Service.EC2: _instance_reader}
        )
    by_account = sorted((r.account, r.region) for r in snap.resources)
    assert by_account == [(SECOND, "eu-west-1")] * 2 + [(SECOND, "us-east-1")] * 2
    assert snap.scope.accounts == ("123456789012", SECOND)
    assert snap.complete
    assert snap.api_calls["sts:AssumeRole"] == 1  # once per account per cycle


def test_collector_bug_becomes_gap_not_pass() -> None:
    """A collector that crashes yields a gap for its unit; the other units still run."""
    with mock_aws():
        settings = _settings(regions=["us-east-1", "eu-west-1"], services=["ec2", "eks"])
        sessions = AwsSessions(base=boto3.Session(region_name="us-east-1"))
        registry = {Service.EC2: _instance_reader, Service.EKS: _broken}
        snap = collect(settings, sessions, CLOCK, PreviousState(), registry=registry)
    assert not snap.complete
    assert sorted((g.region, g.service.value, g.error_code) for g in snap.gaps) == [
        ("eu-west-1", "eks", "KeyError"),
        ("us-east-1", "eks", "KeyError"),
    ]
    assert all(Kind.EKS_NODEGROUP in g.kinds for g in snap.gaps)


def test_unreachable_identity_is_a_whole_estate_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    """If even the caller's identity cannot be read, everything is a gap: nothing passes."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    settings = _settings(services=["ec2", "ecs"], collect={"max_attempts": 1})
    from auditor.aws import client_config

    sessions = AwsSessions(base=boto3.Session(region_name="us-east-1"), config=client_config(1))
    targets, gaps = resolve_targets(settings, sessions)
    assert targets == ()
    assert sorted(g.service.value for g in gaps) == ["ec2", "ecs"]
    assert {g.region for g in gaps} == {"*"}


def test_organization_discovery_assumes_the_named_role(monkeypatch: pytest.MonkeyPatch) -> None:
    """`organization:` lists ACTIVE accounts, honours include/exclude, and assumes
    arn:aws:iam::<id>:role/<role_name> in every account but the caller's own."""
    from auditor.collect.runner import resolve_targets

    with mock_aws():
        org = boto3.client("organizations", region_name="us-east-1")
        org.create_organization(FeatureSet="ALL")
        ids = []
        for name in ("prod", "staging", "sandbox"):
            status = org.create_account(AccountName=name, Email=f"{name}@example.com")
            ids.append(status["CreateAccountStatus"]["AccountId"])
        settings = _settings(organization={"role_name": "audit", "exclude": [ids[2]]})
        sessions = AwsSessions(base=boto3.Session(region_name="us-east-1"))
        targets, gaps = resolve_targets(settings, sessions)
    assert gaps == ()
    caller = "123456789012"  # moto's management account
    by_id = {t.account_id: t.role_arn for t in targets}
    assert sorted(by_id) == sorted([caller, ids[0], ids[1]])
    assert by_id[caller] is None
    assert by_id[ids[0]] == f"arn:aws:iam::{ids[0]}:role/audit"


def test_a_unit_past_its_deadline_is_a_gap_and_the_collection_ends() -> None:
    """A collector that never returns (a black-holed endpoint) cannot hold the cycle: past
    `collect.unit_deadline_seconds` its unit is a DeadlineExceeded gap, the others are kept."""
    import threading
    import time

    release = threading.Event()

    def hangs(ctx: UnitContext) -> CollectResult:
        release.wait(30)
        return CollectResult()

    def quick(ctx: UnitContext) -> CollectResult:
        return CollectResult(resources=(_resource(ctx),))

    settings = _settings(
        accounts=[{"id": "123456789012"}],
        regions=["us-east-1"],
        services=["ec2", "eks"],
        collect={"unit_deadline_seconds": 0.5},
    )
    with mock_aws():
        sessions = AwsSessions(base=boto3.Session(region_name="us-east-1"))
        began = time.monotonic()
        try:
            snap = collect(
                settings,
                sessions,
                CLOCK,
                PreviousState(),
                registry={Service.EC2: quick, Service.EKS: hangs},
            )
        finally:
            release.set()
        took = time.monotonic() - began
    (gap,) = snap.gaps
    assert (gap.service, gap.error_code, gap.operation) == (
        Service.EKS,
        "DeadlineExceeded",
        "eks:collect",
    )
    assert gap.covers(Kind.EKS_NODEGROUP, "123456789012", "us-east-1")
    assert [r.id for r in snap.resources] == ["i-quick"]
    assert took < 5


def _resource(ctx: UnitContext) -> Resource:
    arn = f"arn:aws:ec2:{ctx.region}:{ctx.account}:instance/i-quick"
    return Resource(Kind.EC2_INSTANCE, arn, "i-quick", ctx.account, ctx.region, {}, {}, CLOCK.now())


def test_requests_past_the_deadline_are_refused_without_retry() -> None:
    """After the deadline a collector's AWS call fails at once (no send, no retry): the
    collector records its gap and returns instead of waiting out timeouts."""
    from auditor.aws import DeadlineExceeded, deadline

    with mock_aws():
        sessions = AwsSessions(base=boto3.Session(region_name="us-east-1"))
        ec2 = sessions.client(sessions_target(), "ec2", "us-east-1")
        with deadline(0.0), pytest.raises(DeadlineExceeded):
            ec2.describe_instances()
        ec2.describe_instances()  # outside the block: allowed again
    assert sessions.counter.calls["ec2:DescribeInstances"] == 2


def sessions_target():  # type: ignore[no-untyped-def]
    from auditor.aws import Target

    return Target("123456789012")


class _Denied:
    status_code = 403


def _deny(operation: str) -> object:
    def handler(**_: object) -> tuple[_Denied, dict[str, object]]:
        error = {"Code": "UnauthorizedOperation", "Message": f"not allowed: {operation}"}
        return _Denied(), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}

    return handler


def test_regions_all_with_describe_regions_denied_is_a_gap_for_the_whole_estate() -> None:
    """`regions: all` when ec2:DescribeRegions is denied: the region list is unknown, so every
    service everywhere is a gap (never "no regions, nothing to audit")."""
    with mock_aws():
        base = boto3.Session(region_name="us-east-1")
        base.events.register("before-call.ec2.DescribeRegions", _deny("ec2:DescribeRegions"))
        settings = _settings(regions="all", services=["ec2", "ecs"])
        sessions = AwsSessions(base=base)
        registry = {Service.EC2: _instance_reader, Service.ECS: _instance_reader}
        snap = collect(settings, sessions, CLOCK, PreviousState(), registry=registry)
    assert not snap.complete
    denied = [g for g in snap.gaps if g.operation == "ec2:DescribeRegions"]
    assert {"ec2", "ecs"} == {g.service.value for g in denied}
    assert {"UnauthorizedOperation"} == {g.error_code for g in denied}


def test_each_finished_unit_reports_its_duration_and_its_own_calls() -> None:
    """Per-unit progress (what /metrics and the progress display show): every unit once,
    with the AWS calls made for it alone, even with units running at once."""
    from auditor.collect.units import UnitDone

    done: list[UnitDone] = []
    with mock_aws():
        boto3.client("ec2", region_name="us-east-1").run_instances(
            ImageId="ami-12345678", MinCount=3, MaxCount=3
        )
        sessions = AwsSessions(base=boto3.Session(region_name="us-east-1"))
        settings = _settings(regions=("us-east-1", "eu-west-1"), services=(Service.EC2,))
        snap = collect(
            settings,
            sessions,
            CLOCK,
            PreviousState(),
            done.append,
            registry={Service.EC2: _instance_reader},
        )
    assert sorted((u.region, u.resources, u.outcome) for u in done) == [
        ("eu-west-1", 0, "done"),
        ("us-east-1", 3, "done"),
    ]
    assert all(u.duration_seconds > 0 for u in done)
    assert [u.api_calls for u in done] == [1, 1]
    assert sum(u.api_calls for u in done) == snap.total_api_calls - 1  # + GetCallerIdentity

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

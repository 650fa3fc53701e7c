"""The parts of distributed collection, each against the real thing it uses: the shared
token bucket and account cache on the real Redis, assumed-role credentials on moto, the
message and result codec, the per-unit metrics, the refusal of a SQLite store."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
import redis
from moto import mock_aws
from prometheus_client import generate_latest

from auditor.aws import AwsSessions, Target, acting_for
from auditor.cli import main
from auditor.collect.base import CollectResult, PreviousState
from auditor.collect.runner import api_services, collectors, resolve_targets
from auditor.collect.units import Unit, UnitDone, run_unit
from auditor.metrics import Metrics
from auditor.model import CollectionGap, Kind, Resource, Service, SystemClock
from auditor.settings import OrganizationConfig, Settings, WorkersConfig
from auditor.workers.codec import (
    UnitMessage,
    decode_message,
    decode_result,
    encode_message,
    encode_result,
)
from auditor.workers.redis_state import AccountCache, TokenBuckets
from tests.workers.conftest import REDIS_DB, broker_url

NOW = datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def workers_config() -> Iterator[WorkersConfig]:
    queue = f"t-{uuid.uuid4().hex[:10]}"
    yield WorkersConfig(broker=broker_url(), queue=queue, rate_limit={"per_second": 10, "burst": 3})
    client = redis.Redis(db=REDIS_DB)
    for key in client.scan_iter(f"*{queue}*"):
        client.delete(key)


def test_token_bucket_is_shared_by_every_worker(workers_config: WorkersConfig) -> None:
    """Two workers (two bucket clients) draw from one bucket per (account, region, API
    service): after the burst, each call waits its turn at the configured rate; another
    account's bucket is untouched."""
    waits: list[float] = []
    a = TokenBuckets(workers_config, sleep=waits.append)
    b = TokenBuckets(workers_config, sleep=waits.append)
    got = [w.acquire("111111111111", "us-east-1", "ec2") for w in (a, b, a, b, a, b)]
    assert got[:3] == [0.0, 0.0, 0.0]  # the burst
    # then one call per 100 ms, in turn (a little refill may have happened meanwhile)
    for expected, seen in zip((0.1, 0.2, 0.3), got[3:], strict=True):
        assert expected - 0.05 <= seen <= expected
    assert waits == got[3:]
    assert a.acquire("222222222222", "us-east-1", "ec2") == 0.0


def test_token_bucket_without_redis_lets_calls_through() -> None:
    """Redis gone: the limiter does not stop collection (adaptive retries still pace it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = WorkersConfig(broker=f"redis://127.0.0.1:{port}/0")
    assert TokenBuckets(config).acquire("111111111111", "us-east-1", "ec2") == 0.0


def test_assumed_role_credentials_are_kept_until_shortly_before_expiry() -> None:
    """One AssumeRole per account across units and regions; a new one only when the
    credentials are about to expire (botocore's refresh window), never per call."""
    now = [datetime.now(UTC)]
    with mock_aws():
        sessions = AwsSessions(
            base=boto3.Session(region_name="us-east-1"), time_fetcher=lambda: now[0]
        )
        target = Target("111111111111", "arn:aws:iam::111111111111:role/auditor")
        sessions.client(target, "ec2", "us-east-1").describe_instances()
        sessions.client(target, "ec2", "eu-west-1").describe_instances()
        sessions.client(target, "ecs", "us-east-1").list_clusters()
        assert sessions.counter.calls["sts:AssumeRole"] == 1
        now[0] += timedelta(minutes=55)  # 5 minutes left: inside the refresh window
        sessions.client(target, "ec2", "us-east-1").describe_instances()
        assert sessions.counter.calls["sts:AssumeRole"] == 2
        now[0] = datetime.now(UTC)  # the new credentials (moto dates them now) last an hour
        sessions.client(target, "ecs", "us-east-1").list_clusters()
        sessions.client(target, "ec2", "eu-west-1").describe_instances()
        assert sessions.counter.calls["sts:AssumeRole"] == 2


ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"


def _target(account: str) -> Target:
    return Target(account, f"arn:aws:iam::{account}:role/auditor")


def _seed_instances(account: str, name: str, count: int) -> None:
    """`count` instances tagged Name=`name` in `account`, reached through its role."""
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=_target(account).role_arn, RoleSessionName="seed"
    )["Credentials"]
    boto3.client(
        "ec2",
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    ).run_instances(
        ImageId="ami-12345678",
        MinCount=count,
        MaxCount=count,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}],
    )


def test_shared_clients_sign_every_unit_as_its_own_account() -> None:
    """A worker's one client per (service, region) serves every account: units of two
    accounts running at once each see exactly their own account's instances, with one
    AssumeRole per account for all their units."""
    with mock_aws():
        _seed_instances(ACCOUNT_A, "in-a", 2)
        _seed_instances(ACCOUNT_B, "in-b", 1)
        sessions = AwsSessions(base=boto3.Session(region_name="us-east-1"), shared_clients=True)
        units = [Unit(_target(a), "us-east-1", Service.EC2) for a in (ACCOUNT_A, ACCOUNT_B) * 6]
        with ThreadPoolExecutor(4) as pool:
            runs = list(
                pool.map(
                    lambda u: run_unit(
                        u, sessions, SystemClock(), PreviousState.from_resources(()), collectors()
                    ),
                    units,
                )
            )
        seen_clients = set()
        for target in (_target(ACCOUNT_A), _target(ACCOUNT_B)):
            with acting_for(target):
                seen_clients.add(id(sessions.client(target, "ec2", "us-east-1")))
    for unit, run in zip(units, runs, strict=True):
        assert run.result.gaps == ()
        names = sorted(
            r.tags.get("Name", "") for r in run.result.resources if r.kind is Kind.EC2_INSTANCE
        )
        assert names == (["in-a", "in-a"] if unit.account == ACCOUNT_A else ["in-b"])
    assert sessions.counter.calls["sts:AssumeRole"] == 2
    assert len(seen_clients) == 1


def test_shared_client_outside_its_unit_sends_nothing() -> None:
    """A shared client used where no unit is running has no credentials at all: the request
    is refused, never signed as another account or with the ambient credentials."""
    with mock_aws():
        sessions = AwsSessions(base=boto3.Session(region_name="us-east-1"), shared_clients=True)
        target = _target(ACCOUNT_A)
        with acting_for(target):
            ec2 = sessions.client(target, "ec2", "us-east-1")
            ec2.describe_instances()
        with pytest.raises(botocore.exceptions.NoCredentialsError):
            ec2.describe_instances()


def test_shared_clients_refresh_an_account_credentials_shortly_before_expiry() -> None:
    """Shared clients sign with the account's refreshable credentials: one AssumeRole per
    account across units, regions and services; a new one only near expiry."""
    now = [datetime.now(UTC)]
    with mock_aws():
        sessions = AwsSessions(
            base=boto3.Session(region_name="us-east-1"),
            time_fetcher=lambda: now[0],
            shared_clients=True,
        )
        target = _target(ACCOUNT_A)
        with acting_for(target):
            sessions.client(target, "ec2", "us-east-1").describe_instances()
            sessions.client(target, "ec2", "eu-west-1").describe_instances()
            sessions.client(target, "ecs", "us-east-1").list_clusters()
            assert sessions.counter.calls["sts:AssumeRole"] == 1
            now[0] += timedelta(minutes=55)  # 5 minutes left: inside the refresh window
            sessions.client(target, "ec2", "us-east-1").describe_instances()
            assert sessions.counter.calls["sts:AssumeRole"] == 2
            now[0] = datetime.now(UTC)
            sessions.client(target, "ecs", "us-east-1").list_clusters()
            assert sessions.counter.calls["sts:AssumeRole"] == 2


def test_prepared_clients_are_the_ones_units_use_and_cost_no_aws_call() -> None:
    """A worker builds its shared clients at start (no AWS call, no role assumed); a unit of
    any account then uses them instead of building its own."""
    with mock_aws():
        sessions = AwsSessions(base=boto3.Session(region_name="us-east-1"), shared_clients=True)
        built: list[str] = []
        sessions.base.events.register(
            "creating-client-class", lambda event_name, **_: built.append(event_name)
        )
        sessions.prepare(api_services([Service.EC2, Service.ECR]), ["us-east-1", "eu-west-1"])
        assert sessions.counter.total == 0
        assert len(built) == 1 + 3 * 2  # STS, and (ec2, autoscaling, ecr) x 2 regions
        prepared = {}
        for account in (ACCOUNT_A, ACCOUNT_B):
            target = _target(account)
            with acting_for(target):
                for api in ("ec2", "autoscaling", "ecr"):
                    client = sessions.client(target, api, "eu-west-1")
                    assert prepared.setdefault(api, client) is client
                sessions.client(target, "ec2", "eu-west-1").describe_instances()
        assert sessions.counter.calls["sts:AssumeRole"] == 2
        assert len(built) == 1 + 3 * 2  # no client built for a unit


def test_organization_accounts_are_cached_for_the_configured_time(
    workers_config: WorkersConfig,
) -> None:
    """The leader asks Organizations once per cache_seconds, not every cycle."""
    with mock_aws():
        org = boto3.client("organizations", region_name="us-east-1")
        org.create_organization(FeatureSet="ALL")
        org.create_account(AccountName="member", Email="member@example.com")
        settings = Settings(organization=OrganizationConfig(cache_seconds=600))
        cache = AccountCache(workers_config)
        sessions = AwsSessions(base=boto3.Session(region_name="us-east-1"))
        first, _ = resolve_targets(settings, sessions, cache)
        second, _ = resolve_targets(settings, sessions, cache)
    assert first == second
    assert len(first) == 2
    assert sessions.counter.calls["organizations:ListAccounts"] == 1
    caller = "123456789012"  # moto's own account: the management account here
    key = f"auditor:{workers_config.queue}:accounts:organization:{caller}"
    ttl = redis.Redis(db=REDIS_DB).ttl(key)
    assert 0 < ttl <= 600


def _resource() -> Resource:
    return Resource(
        kind=Kind.EC2_INSTANCE,
        arn="arn:aws:ec2:us-east-1:111111111111:instance/i-1",
        id="i-1",
        account="111111111111",
        region="us-east-1",
        tags={"team": "web"},
        attributes={"InstanceId": "i-1", "UserData": {"redacted": True}, "LaunchTime": "x"},
        observed_at=NOW,
        unavailable=("MetadataOptions",),
    )


def test_message_and_result_round_trip() -> None:
    """What the worker receives and what the leader reads back are the values sent."""
    unit = Unit(
        Target("111111111111", "arn:aws:iam::111111111111:role/a"), "us-east-1", Service.EC2
    )
    message = UnitMessage("c1", unit, ("repo:tag",), (_resource(),))
    assert decode_message(encode_message(message)) == message
    gap = CollectionGap(
        "111111111111",
        "us-east-1",
        Service.EC2,
        (Kind.ASG,),
        "autoscaling:DescribeAutoScalingGroups",
        "AccessDenied",
        "no",
    )
    result = CollectResult((_resource(),), (gap,))
    assert decode_result(encode_result(result)) == result


def test_unknown_message_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        decode_message({"v": 99})


def test_unit_metrics_count_durations_outcomes_retries_throttles_and_gaps() -> None:
    metrics = Metrics()
    metrics.observe_unit(UnitDone("1", "r", Service.EC2, 3, 0, 1.5, 7, 2, 1, "done"))
    metrics.observe_unit(UnitDone("1", "r", Service.EC2, 0, 1, 0.0, 0, 0, 0, "timeout"))
    text = generate_latest(metrics.registry).decode()
    assert 'auditor_units_total{outcome="done",service="ec2"} 1.0' in text
    assert 'auditor_units_total{outcome="timeout",service="ec2"} 1.0' in text
    assert 'auditor_unit_retries_total{service="ec2"} 2.0' in text
    assert 'auditor_unit_throttles_total{service="ec2"} 1.0' in text
    assert 'auditor_unit_gaps_total{service="ec2"} 1.0' in text
    assert 'auditor_unit_duration_seconds_count{service="ec2"} 2.0' in text


@pytest.mark.parametrize("command", ["scan", "worker"])
def test_workers_with_a_sqlite_store_exit_2_with_a_clear_message(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Workers write where the leader reads: a SQLite file cannot be shared. Nothing runs."""
    config = tmp_path / "auditor.yaml"
    config.write_text(
        f"store: sqlite:///{tmp_path}/a.db\nworkers: {{broker: '{broker_url()}'}}\n"
        f"signing: {{key_file: {tmp_path}/missing.key}}\n",
        encoding="utf-8",
    )
    assert main([command, "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "workers need a shared PostgreSQL store" in err
    assert str(config) in err
    assert not (tmp_path / "a.db").exists()


def test_broker_url_from_a_file_is_used_and_never_echoed(tmp_path: Path) -> None:
    """The broker URL carries the Redis password: read from a file; a bad file's content
    is not repeated in the error."""
    from auditor.settings import ConfigError, load_settings

    secret = tmp_path / "broker-url"
    secret.write_text("redis://:s3cret@redis:6379/0\n", encoding="utf-8")
    config = tmp_path / "auditor.yaml"
    config.write_text(f"workers: {{broker_file: {secret}}}\n", encoding="utf-8")
    assert load_settings(config).workers.broker == "redis://:s3cret@redis:6379/0"
    secret.write_text("not-a-url-s3cret\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert "s3cret" not in str(raised.value)
    assert "workers.broker_file" in str(raised.value) or "broker-url" in str(raised.value)


@pytest.mark.postgres
def test_a_worker_looks_image_content_up_in_the_shared_store(
    postgres_url: str, workers_config: WorkersConfig
) -> None:
    """A worker's units get the shared store's image cache: a digest the leader's previous
    snapshot did not carry (out of use for a while) is still known to the worker."""
    from auditor.store import CycleRecord, Store
    from auditor.workers.process import worker_context
    from tests.store.builders import snapshot

    digest = "sha256:" + "ab" * 32
    content = {"configDigest": "sha256:" + "cd" * 32, "secrets": [], "layers": {"scanned": False}}
    store = Store.open(postgres_url)
    try:
        store.commit_cycle(
            CycleRecord(
                snapshot("c1", ()), None, (), image_contents=((digest, "v1/config", content),)
            )
        )
        ctx = worker_context(Settings(store=postgres_url, workers=workers_config), store, 1)
        assert ctx.image_lookup is not None
        previous = PreviousState.from_resources((), ctx.image_lookup)
        assert previous.image_lookup is not None
        assert {digest: [("v1/config", content)]} == previous.image_lookup([digest])
        assert {} == previous.image_lookup(["sha256:" + "ef" * 32])
    finally:
        store.close()

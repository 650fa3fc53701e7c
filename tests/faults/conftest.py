"""A moto server (subprocess) behind a FaultProxy, a small fleet in an organisation of two
accounts x two regions, Slack as a local HTTP capture, and a store after one clean cycle.

Timeouts are short through `collect:` config so a faulty cycle ends in seconds. Each test
starts from a copy of the store and report chain the clean baseline cycle left.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from auditor.aws import AwsSessions
from auditor.collect.runner import collect_client_config
from auditor.model import FixedClock, TrackedFinding
from auditor.pipeline import CycleResult, run_cycle
from auditor.report.signing import generate_ed25519_pem, write_private_key
from auditor.settings import Settings
from auditor.store import Store
from tests.conftest import NOW
from tests.faults.proxy import FaultProxy
from tests.notify.fakeslack import FakeSlack

MASTER = "123456789012"
REGIONS = ("us-east-1", "eu-west-1")
SERVICES = ("ec2", "ecs")
CYCLE_DEADLINE = 120.0
# Per-call timeouts short enough that a black hole costs seconds; deadlines long enough
# that a clean cycle never meets them, even on a loaded two-core machine (the deadline
# itself is proven in tests/collect/test_runner.py).
COLLECT = {
    "max_attempts": 2,
    "connect_timeout_seconds": 1,
    "read_timeout_seconds": 2,
    "unit_deadline_seconds": 60,
    "cycle_deadline_seconds": CYCLE_DEADLINE,
}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "faults", "AWS_SECRET_ACCESS_KEY": "faults"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, **CREDENTIALS, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError("moto_server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _client(endpoint: str, service: str, region: str, creds: dict[str, str] | None = None) -> Any:
    keys = creds or {"aws_access_key_id": "faults", "aws_secret_access_key": "faults"}
    return boto3.client(service, region_name=region, endpoint_url=endpoint, **keys)  # type: ignore[call-overload]


def _seed_cell(endpoint: str, region: str, creds: dict[str, str] | None) -> None:
    """One keyed instance, a keyed launch template behind a group, a task definition with
    a password in its environment behind a service: open findings of several rule kinds."""
    ec2 = _client(endpoint, "ec2", region, creds)
    ec2.create_key_pair(KeyName="ops")
    image = ec2.register_image(Name="base", RootDeviceName="/dev/xvda")["ImageId"]
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, KeyName="ops")
    template = ec2.create_launch_template(
        LaunchTemplateName="web",
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.small", "KeyName": "ops"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    _client(endpoint, "autoscaling", region, creds).create_auto_scaling_group(
        AutoScalingGroupName="web",
        MinSize=0,
        MaxSize=1,
        DesiredCapacity=0,
        AvailabilityZones=[f"{region}a"],
        LaunchTemplate={"LaunchTemplateId": template, "Version": "1"},
    )
    ecs = _client(endpoint, "ecs", region, creds)
    ecs.create_cluster(clusterName="apps")
    ecs.register_task_definition(
        family="api",
        containerDefinitions=[
            {
                "name": "api",
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:latest",
                "memory": 128,
                "environment": [{"name": "DB_PASSWORD", "value": "hunter2-Zq8!xT2#"}],
            }
        ],
    )
    ecs.create_service(cluster="apps", serviceName="api", taskDefinition="api", desiredCount=0)


def _seed(endpoint: str) -> str:
    """The organisation (master + one member) and its fleet; returns the member id."""
    org = _client(endpoint, "organizations", "us-east-1")
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(Email="member@example.com", AccountName="member")[
        "CreateAccountStatus"
    ]["AccountId"]
    creds = _client(endpoint, "sts", "us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/auditor", RoleSessionName="seed"
    )["Credentials"]
    member_keys = {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
    for region in REGIONS:
        _seed_cell(endpoint, region, None)
        _seed_cell(endpoint, region, member_keys)
    return str(member)


@dataclass
class World:
    """The running pieces and the member account's id."""

    proxy: FaultProxy
    slack: FakeSlack
    member: str
    key_file: Path
    baseline_dir: Path
    cycles: int = 0

    def settings(self, where: Path) -> Settings:
        return Settings(
            organization={"role_name": "auditor"},  # type: ignore[arg-type]
            regions=list(REGIONS),  # type: ignore[arg-type]
            services=list(SERVICES),  # type: ignore[arg-type]
            store=f"sqlite:///{where / 'auditor.db'}",
            reports={"dir": str(where / "reports"), "formats": ["json"]},  # type: ignore[arg-type]
            signing={"key_file": str(self.key_file)},  # type: ignore[arg-type]
            collect=COLLECT,  # type: ignore[arg-type]
        )

    def cycle(self, where: Path) -> CycleResult:
        """One cycle through the proxy, 15 minutes after the previous one."""
        self.cycles += 1
        settings = self.settings(where)
        env = {
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": self.proxy.url,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AUDITOR_SLACK_WEBHOOK": self.slack.webhook_url,
        }
        with pytest.MonkeyPatch.context() as mp:
            for name in [n for n in os.environ if n.startswith(("AWS_", "AUDITOR_"))]:
                mp.delenv(name)
            for name, value in env.items():
                mp.setenv(name, value)
            sessions = AwsSessions(
                base=boto3.Session(region_name="us-east-1"),
                config=collect_client_config(settings),
            )
            clock = FixedClock(NOW + timedelta(minutes=15 * self.cycles))
            return run_cycle(settings, clock=clock, sessions=sessions)

    def open_findings(self, where: Path) -> dict[str, TrackedFinding]:
        store = Store.open(self.settings(where).store)
        try:
            return dict(store.open_findings())
        finally:
            store.close()


@pytest.fixture(scope="session")
def world(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    member = _seed(moto_server)
    base = tmp_path_factory.mktemp("faults")
    key_file = base / "signing.key"
    write_private_key(key_file, generate_ed25519_pem())
    slack = FakeSlack()
    slack.start()
    with FaultProxy(moto_server) as proxy:
        here = World(proxy, slack, member, key_file, base / "baseline")
        here.baseline_dir.mkdir()
        first = here.cycle(here.baseline_dir)
        assert first.snapshot.gaps == (), first.snapshot.gaps
        yield here
    slack.stop()


@pytest.fixture
def clean(world: World, tmp_path: Path) -> Path:
    """A copy of the store and report chain after the clean baseline cycle."""
    where = tmp_path / "state"
    shutil.copytree(world.baseline_dir, where)
    world.slack.received.clear()
    world.proxy.clear()
    return where

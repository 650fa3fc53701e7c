"""Distributed collection end to end: a moto_server subprocess seeded in two accounts (reached
by assume-role) and two regions, the real Redis (a queue name per test, DB 9) and the real
PostgreSQL (a schema per test), `auditor worker` subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis
import yaml

from auditor.report.signing import generate_ed25519_pem, write_private_key
from tests.daemon.processes import VENV_BIN, MotoProcess, aws_env, wait_for

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
SERVICES = ("ec2", "ecs", "ecr")
REDIS_DB = 9


def role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/auditor"


def _session(endpoint: str, account: str, region: str) -> boto3.Session:
    base = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
    )
    creds = base.client("sts", endpoint_url=endpoint).assume_role(
        RoleArn=role_arn(account), RoleSessionName="seed"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


def _seed(endpoint: str) -> None:
    """In every (account, region): instances with an SSH key pair, an ECS service running a
    mutable tag, a mutable ECR repository: resources and findings in every unit."""
    for account in ACCOUNTS:
        for region in REGIONS:
            s = _session(endpoint, account, region)
            ec2 = s.client("ec2", endpoint_url=endpoint)
            ec2.create_key_pair(KeyName="ops")
            ec2.run_instances(
                ImageId="ami-12345678",
                MinCount=2,
                MaxCount=2,
                InstanceType="t3.micro",
                KeyName="ops",
            )
            ecs = s.client("ecs", endpoint_url=endpoint)
            ecs.create_cluster(clusterName="web")
            ecs.register_task_definition(
                family="web",
                containerDefinitions=[{"name": "app", "image": "nginx:latest", "memory": 128}],
            )
            ecs.create_service(
                cluster="web", serviceName="web", taskDefinition="web", desiredCount=1
            )
            s.client("ecr", endpoint_url=endpoint).create_repository(repositoryName="web")


@dataclass(frozen=True)
class Moto:
    url: str
    key: Path


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    base = tmp_path_factory.mktemp("workers-session")
    server = MotoProcess(base / "moto.log")
    try:
        _seed(server.url)
        key = base / "signing.key"
        write_private_key(key, generate_ed25519_pem())
        yield Moto(server.url, key)
    finally:
        server.stop()


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue name of its own (DB 9): nothing of another test can reach it."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis(db=REDIS_DB)
    for key in client.scan_iter(f"*{name}*"):
        client.delete(key)


def broker_url(db: int = REDIS_DB, port: int = 6379) -> str:
    return f"redis://127.0.0.1:{port}/{db}"


def write_config(
    directory: Path,
    store: str,
    key: Path,
    *,
    workers: Mapping[str, Any] | None = None,
    name: str = "auditor.yaml",
) -> Path:
    config: dict[str, Any] = {
        "store": store,
        "accounts": [{"id": a, "role_arn": role_arn(a)} for a in ACCOUNTS],
        "regions": list(REGIONS),
        "services": list(SERVICES),
        "reports": {"dir": str(directory / "reports")},
        "signing": {"key_file": str(key)},
        "remediation": {"mode": "dry-run"},
        "slack": {"webhook_url_env": None},
    }
    if workers is not None:
        config["workers"] = dict(workers)
    path = directory / name
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class WorkerProcess:
    """`auditor worker --config FILE` as a subprocess; stderr (JSON lines) to a file."""

    def __init__(
        self, config: Path, env: Mapping[str, str], name: str, concurrency: int = 2
    ) -> None:
        self.name = name
        self.stderr_path = config.parent / f"{name}.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [
                str(VENV_BIN / "auditor"),
                "--log-json",
                "worker",
                "--config",
                str(config),
                "--concurrency",
                str(concurrency),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=dict(env),
        )
        wait_for(f"{name} to start", lambda: self.events("worker_started"), 30)

    def lines(self) -> list[str]:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        out = []
        for line in self.lines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if name is None or record.get("event") == name:
                out.append(record)
        code = self.proc.poll()
        if code not in (None, 0, -signal.SIGKILL):
            raise AssertionError(f"{self.name} exited {code}:\n" + "\n".join(self.lines()[-30:]))
        return out

    def units(self) -> list[dict[str, Any]]:
        """The canonical lines: one per unit message this worker handled."""
        return self.events("unit")

    def close(self) -> None:
        """Warm shutdown first (it also lets coverage write its data), then kill."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._stderr.close()


@pytest.fixture
def spawn(moto: Moto) -> Iterator[Any]:
    """Start worker subprocesses; every one still running is killed at the end."""
    started: list[WorkerProcess] = []

    def start(
        config: Path, name: str, *, endpoint: str | None = None, concurrency: int = 2
    ) -> WorkerProcess:
        env = aws_env(endpoint or moto.url)
        env["PYTHONUNBUFFERED"] = "1"
        worker = WorkerProcess(config, env, name, concurrency)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.close()


@pytest.fixture
def leader_env(moto: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process is the leader: its AWS calls (none but STS) go to the moto server."""
    for key, value in aws_env(moto.url).items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("AUDITOR_SLACK_WEBHOOK", raising=False)


@pytest.fixture(scope="session")
def local_inventory(moto: Moto, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The in-process cycle over the same fleet: what a distributed cycle must match."""
    from auditor.pipeline import CycleOptions, run_cycle
    from auditor.settings import load_settings

    directory = tmp_path_factory.mktemp("local")
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in aws_env(moto.url).items() if k.startswith("AWS_")})
    try:
        config = write_config(directory, f"sqlite:///{directory}/local.db", moto.key)
        return run_cycle(
            load_settings(config), options=CycleOptions(write_report=False, send_alerts=False)
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)

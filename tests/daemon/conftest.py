"""One moto server subprocess per test session, seeded with a tiny fleet."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from auditor.report.signing import generate_ed25519_pem, write_private_key
from tests.daemon.processes import REGION, MotoProcess


@dataclass(frozen=True)
class Fleet:
    endpoint_url: str
    key: Path  # the report signing key every daemon of the session uses
    expected: dict[str, int]  # resources by kind that the seeding created


def _seed(endpoint_url: str) -> dict[str, int]:
    kw: dict[str, Any] = {
        "endpoint_url": endpoint_url,
        "region_name": REGION,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    ec2 = boto3.client("ec2", **kw)
    ec2.run_instances(ImageId="ami-12345678", MinCount=3, MaxCount=3, InstanceType="t3.micro")
    ecs = boto3.client("ecs", **kw)
    ecs.create_cluster(clusterName="web")
    ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "app", "image": "nginx:1.27", "memory": 128}]
    )
    ecs.create_service(cluster="web", serviceName="web", taskDefinition="web", desiredCount=1)
    boto3.client("ecr", **kw).create_repository(repositoryName="web")
    return {"ec2.instance": 3, "ecs.cluster": 1, "ecs.service": 1, "ecr.repository": 1}


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    base = tmp_path_factory.mktemp("daemon-session")
    moto = MotoProcess(base / "moto.log")
    try:
        key = base / "signing.key"
        write_private_key(key, generate_ed25519_pem())
        yield Fleet(moto.url, key, _seed(moto.url))
    finally:
        moto.stop()

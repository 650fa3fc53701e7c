"""seed_bulk: the benchmark fleet, built in batches."""

from __future__ import annotations

import boto3
import pytest

from auditor.aws import ApiCallCounter
from auditor.demo import bulk
from auditor.demo.fleet import account_session
from auditor.demo.manifest import FleetManifest
from auditor.demo.server import DemoServer
from tests.conftest import NOW
from tests.demo.conftest import ClientFactory, Seeded

ACCOUNT = "444444444444"
REGION = "us-east-1"
EKS_NODES = 6  # general 3 + debug 1 + legacy workers 2, on the first cell


Bulk = tuple[FleetManifest, ApiCallCounter]


@pytest.fixture
def bulk_fleet(demo_server: DemoServer, seeded: Seeded[Bulk]) -> Bulk:
    return seeded("bulk", lambda: _seed(demo_server))


def _seed(server: DemoServer) -> Bulk:
    counter = ApiCallCounter()

    def counted(endpoint_url: str, account: str) -> boto3.Session:
        session = account_session(endpoint_url, account)
        counter.attach(session)
        return session

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bulk, "account_session", counted)
        manifest = bulk.seed_bulk(
            server.endpoint_url,
            instances=200,
            ecs_services=20,
            tasks_per_service=2,
            accounts=(ACCOUNT,),
            regions=(REGION,),
            now=NOW,
        )
    return manifest, counter


def test_creates_the_requested_fleet(bulk_fleet: Bulk, client: ClientFactory) -> None:
    """200 instances (plus the EKS nodes), 20 services with 2 running tasks each, as
    the AWS API reports them and as the manifest counts them."""
    manifest, _ = bulk_fleet
    ec2 = client("ec2", ACCOUNT, REGION)
    pages = ec2.get_paginator("describe_instances").paginate()
    instances = sum(len(r["Instances"]) for page in pages for r in page["Reservations"])
    ecs = client("ecs", ACCOUNT, REGION)
    clusters = ecs.list_clusters()["clusterArns"]
    services = sum(len(ecs.list_services(cluster=c)["serviceArns"]) for c in clusters)
    tasks = sum(len(ecs.list_tasks(cluster=c)["taskArns"]) for c in clusters)
    assert (200 + EKS_NODES, 20, 40) == (instances, services, tasks)
    assert (instances, services, tasks) == (
        manifest.counts["ec2.instance"],
        manifest.counts["ecs.service"],
        manifest.counts["ecs.task"],
    )


def test_launches_instances_in_batches(bulk_fleet: Bulk) -> None:
    """Instances are launched 50 to an Auto Scaling group and pets in one RunInstances
    call: 7 launch calls for 206 instances, not one per instance."""
    _, counter = bulk_fleet
    launches = counter.calls.get("ec2:RunInstances", 0) + counter.calls.get(
        "autoscaling:CreateAutoScalingGroup", 0
    )
    assert (1, 4 + 3) == (
        counter.calls.get("ec2:RunInstances"),
        counter.calls.get("autoscaling:CreateAutoScalingGroup"),
    )
    assert launches < 10


def test_a_tenth_of_the_fleet_violates(bulk_fleet: Bulk) -> None:
    """Evaluation gets real findings, but most resources pass: old-AMI instances are the
    legacy group and the pets, far fewer than all instances."""
    manifest, _ = bulk_fleet
    failing = len(manifest.failing("ec2.ami_age"))
    assert 0 < failing < manifest.counts["ec2.instance"] // 2
    assert manifest.failing("ecs.exec_enabled")
    assert manifest.failing("ec2.unmanaged_pet")

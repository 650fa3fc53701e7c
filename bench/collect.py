"""Collection benchmark: a cold and a warm cycle over a large fleet on a moto server.

Seeds N instances (default 5,000) and ~500 ECS services plus EKS and ECR on an in-process
moto server, then runs a cold collection (nothing known) and a warm one (the previous
snapshot known, nothing changed). For each: wall time, peak memory, API calls made, and the
minimum number of calls the AWS APIs allow for the fleet that was collected.

Targets (issue 2): cold calls <= 1.1 x minimum; warm calls <= 20% of cold calls.

    .venv/bin/python bench/collect.py [--instances 5000] [--services 500]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import resource
import sys
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from auditor.aws import AwsSessions, client_config
from auditor.collect.base import PreviousState
from auditor.collect.runner import collect
from auditor.demo.bulk import seed_bulk
from auditor.demo.fleet import role_arn
from auditor.demo.server import DemoServer, demo_aws_env
from auditor.model import Kind, Snapshot, SystemClock
from auditor.settings import Settings
from bench._proc import free_port


def minimum_calls(snap: Snapshot, *, warm: bool) -> Counter[str]:
    """The fewest calls the APIs allow to read what this snapshot holds.

    Per (account, region): list pages at the largest page size, describe calls at the
    largest batch, user data one call per instance (the API takes one instance), task
    definitions one call per revision — the last two only when not already known (warm).
    """
    need: Counter[str] = Counter()
    cells = {(r.account, r.region) for r in snap.resources}
    by_cell: dict[tuple[str, str], Counter[Kind]] = {c: Counter() for c in cells}
    per_cluster_services: Counter[str] = Counter()
    per_cluster_tasks: Counter[str] = Counter()
    repos_used: set[str] = set()
    for r in snap.resources:
        by_cell[(r.account, r.region)][r.kind] += 1
        if r.kind is Kind.ECS_SERVICE:
            per_cluster_services[str(r.attributes["clusterArn"])] += 1
        elif r.kind is Kind.ECS_TASK:
            per_cluster_tasks[str(r.attributes["clusterArn"])] += 1
        elif r.kind is Kind.ECR_IMAGE:
            repos_used.add(f"{r.account}/{r.region}/{r.attributes['repositoryName']}")
    need["sts:AssumeRole"] = len(snap.scope.accounts)
    for counts in by_cell.values():
        need["ec2:DescribeInstances"] += max(1, math.ceil(counts[Kind.EC2_INSTANCE] / 1000))
        if not warm:
            need["ec2:DescribeInstanceAttribute"] += counts[Kind.EC2_INSTANCE]
        need["autoscaling:DescribeAutoScalingGroups"] += max(1, math.ceil(counts[Kind.ASG] / 100))
        need["ec2:DescribeLaunchTemplateVersions"] += counts[Kind.EC2_LAUNCH_TEMPLATE]
        if counts[Kind.EC2_IMAGE]:
            need["ec2:DescribeImages"] += math.ceil(counts[Kind.EC2_IMAGE] / 1000)
        if counts[Kind.EC2_SECURITY_GROUP]:
            need["ec2:DescribeSecurityGroups"] += math.ceil(counts[Kind.EC2_SECURITY_GROUP] / 1000)
        clusters = counts[Kind.ECS_CLUSTER]
        need["ecs:ListClusters"] += max(1, math.ceil(clusters / 100))
        need["ecs:DescribeClusters"] += math.ceil(clusters / 100)
        if not warm:
            need["ecs:DescribeTaskDefinition"] += counts[Kind.ECS_TASK_DEFINITION]
        need["eks:ListClusters"] += 1
        need["eks:DescribeCluster"] += counts[Kind.EKS_CLUSTER]
        need["eks:ListNodegroups"] += counts[Kind.EKS_CLUSTER]
        need["eks:DescribeNodegroup"] += counts[Kind.EKS_NODEGROUP]
        need["ecr:DescribeRepositories"] += max(1, math.ceil(counts[Kind.ECR_REPOSITORY] / 1000))
        if counts[Kind.ECR_REPOSITORY]:
            need["ecr:GetRegistryScanningConfiguration"] += 1
    for r in snap.resources:
        if r.kind is Kind.ECS_CLUSTER:
            arn = r.arn
            need["ecs:ListServices"] += max(1, math.ceil(per_cluster_services[arn] / 100))
            need["ecs:DescribeServices"] += math.ceil(per_cluster_services[arn] / 10)
            need["ecs:ListTasks"] += max(1, math.ceil(per_cluster_tasks[arn] / 100))
            need["ecs:DescribeTasks"] += math.ceil(per_cluster_tasks[arn] / 100)
    need["ecr:DescribeImages"] += len(repos_used)
    need.update(_image_calls(snap, len(repos_used), warm=warm))
    return need


def _image_calls(snap: Snapshot, repositories: int, *, warm: bool) -> Counter[str]:
    """Images in use (issue 18): manifest and config once per digest; the scan state costs a
    DescribeImageScanFindings when DescribeImages has no scan summary (moto never gives one,
    so every scanned image costs one per cycle here; on AWS a clean scan costs none)."""
    need: Counter[str] = Counter()
    images = [r for r in snap.resources if r.kind is Kind.ECR_IMAGE]
    scanned = [i for i in images if (i.attributes.get("scan") or {}).get("status") != "NONE"]
    if not warm:
        need["ecr:BatchGetImage"] += repositories
        digests = {str(i.attributes["imageDigest"]) for i in images}
        need["ecr:GetDownloadUrlForLayer"] += len(digests)
        need["ecr:LayerDownload"] += len(digests)
    need["ecr:DescribeImageScanFindings"] += len(scanned) if warm else len(images)
    return need


def run(settings: Settings, previous: PreviousState) -> tuple[Snapshot, float, float]:
    # moto answers a 1,000-instance DescribeInstances page in over a minute (it renders every
    # instance in Python); real AWS in well under a second. Give moto time, not the product.
    sessions = AwsSessions(config=client_config(settings.collect.max_attempts, read_timeout=900))
    tracemalloc.start()
    began = time.perf_counter()
    snap = collect(settings, sessions, SystemClock(), previous)
    wall = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return snap, wall, peak / 2**20


def serve_fleet(port: int, instances: int, services: int, ready: Any, stop: Any) -> None:
    """Child process: moto on 127.0.0.1:port with the bulk fleet, until told to stop. Its own
    process, so moto does not share a GIL with the collector being measured."""
    with DemoServer(port=port) as server:
        manifest = seed_bulk(
            server.endpoint_url, instances=instances, ecs_services=services, now=datetime.now(UTC)
        )
        ready.put((manifest.accounts, manifest.regions, manifest.total_resources))
        stop.wait()


def report(name: str, snap: Snapshot, wall: float, peak_mb: float, minimum: Counter[str]) -> None:
    made = snap.total_api_calls
    least = sum(minimum.values())
    print(f"\n{name}: {len(snap.resources)} resources, {len(snap.gaps)} gaps")
    for gap in snap.gaps:
        print(f"  gap: {gap.account} {gap.region} {gap.operation} {gap.error_code}: {gap.message}")
    print(f"  wall {wall:.1f} s, peak traced memory {peak_mb:.0f} MB")
    print(f"  API calls made {made}, minimum {least}, ratio {made / max(least, 1):.3f}")
    extra = {k: v - minimum.get(k, 0) for k, v in snap.api_calls.items() if v != minimum.get(k, 0)}
    if extra:
        print(f"  calls above the minimum by operation: {dict(sorted(extra.items()))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--services", type=int, default=500)
    args = parser.parse_args()
    port = free_port()
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=serve_fleet, args=(port, args.instances, args.services, ready, stop))
    began = time.perf_counter()
    child.start()
    try:
        accounts, regions, total = ready.get(timeout=1800)
        print(f"seeded {total} resources in {time.perf_counter() - began:.0f} s")
        os.environ.update(demo_aws_env(f"http://127.0.0.1:{port}"))
        settings = Settings(
            accounts=tuple({"id": a, "role_arn": role_arn(a)} for a in accounts),
            regions=tuple(regions),
        )
        cold, cold_wall, cold_peak = run(settings, PreviousState())
        cold_min = minimum_calls(cold, warm=False)
        report("cold", cold, cold_wall, cold_peak, cold_min)
        warm, warm_wall, warm_peak = run(settings, PreviousState.from_snapshot(cold))
        report("warm", warm, warm_wall, warm_peak, minimum_calls(warm, warm=True))
    finally:
        stop.set()
        child.join(timeout=60)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cold_ratio = cold.total_api_calls / max(sum(cold_min.values()), 1)
    warm_share = warm.total_api_calls / max(cold.total_api_calls, 1)
    print(f"\ncollector process peak RSS {rss:.0f} MB (moto runs in its own process)")
    print(f"cold calls / minimum = {cold_ratio:.3f} (target <= 1.10)")
    print(f"warm calls / cold calls = {warm_share:.3f} (target <= 0.20)")
    complete = cold.complete and warm.complete
    return 0 if complete and cold_ratio <= 1.1 and warm_share <= 0.2 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: 100,000 synthetic resources through every built-in rule, on one core.

    .venv/bin/python bench/evaluate.py [--resources N]

Prints rule evaluations per second and peak memory (RSS). Target: >= 500,000 rule
evaluations per second and < 1 GB. Resources follow docs/resources.md; about one in
twenty violates something, so findings are built too (the realistic slow path).
"""

from __future__ import annotations

import argparse
import random
import resource as rusage
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditor.engine import evaluate, load_rules
from auditor.model import FixedClock, Kind, Resource, Scope, Service, Snapshot, iso
from auditor.pipeline import cycle_rules
from auditor.settings import RulesConfig, Settings

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
ACCOUNT, REGION = "123456789012", "us-east-1"
DIGEST = "sha256:" + "a" * 64

# share of each kind in the synthetic estate (sums to 1)
MIX = {
    Kind.EC2_INSTANCE: 0.30,
    Kind.ECS_TASK: 0.25,
    Kind.ECS_TASK_DEFINITION: 0.08,
    Kind.ECS_SERVICE: 0.08,
    Kind.EC2_SECURITY_GROUP: 0.08,
    Kind.EC2_LAUNCH_TEMPLATE: 0.05,
    Kind.ASG: 0.05,
    Kind.ECR_REPOSITORY: 0.03,
    Kind.ECR_IMAGE: 0.03,
    Kind.EKS_NODEGROUP: 0.02,
    Kind.EKS_CLUSTER: 0.01,
    Kind.EC2_IMAGE: 0.02,
}


def ago(rng: random.Random, low: int, high: int) -> str:
    return iso(NOW - timedelta(days=rng.randint(low, high), seconds=rng.randint(0, 86399)))


def text(rng: random.Random) -> dict[str, Any]:
    secrets = (
        [{"location": "line 3", "detector": "AWS Access Key", "hash": "0123456789ab"}]
        if rng.random() < 0.02
        else []
    )
    return {"present": True, "sha256": "ab" * 32, "size": 300, "secrets": secrets}


def attributes(
    kind: Kind, i: int, rng: random.Random, bad_share: float
) -> tuple[str, dict[str, Any]]:
    bad = rng.random() < bad_share
    if kind is Kind.EC2_INSTANCE:
        attrs: dict[str, Any] = {
            "InstanceId": f"i-{i:017x}",
            "InstanceType": "m6i.large",
            # the AMI of its group's launch template (asg-k uses lt-k, whose AMI is k % 200)
            "ImageId": f"ami-{(i % 500) % 200:017x}",
            "LaunchTime": ago(rng, 0, 40 if bad else 25),
            "State": {"Name": "stopped" if bad and i % 7 == 0 else "running"},
            "StateTransitionReason": "",
            "UserData": text(rng),
            "MetadataOptions": {
                "HttpTokens": "optional" if bad else "required",
                "HttpEndpoint": "enabled",
            },
            "SecurityGroups": [{"GroupId": "sg-1", "GroupName": "web"}],
            "BlockDeviceMappings": [],
        }
        if not (bad and i % 3 == 0):
            attrs["AutoScalingGroupName"] = f"asg-{i % 500}"
        if bad and i % 5 == 0:
            attrs["KeyName"] = "ops"
        return f"instance/i-{i:017x}", attrs
    if kind is Kind.EC2_IMAGE:
        return f"image/ami-{i:017x}", {
            "ImageId": f"ami-{i:017x}",
            "Name": "base",
            "CreationDate": ago(rng, 1, 200 if bad else 80),
            "OwnerId": ACCOUNT,
            "State": "available",
            "Public": False,
        }
    if kind is Kind.EC2_LAUNCH_TEMPLATE:
        data = {
            "ImageId": f"ami-{i % 200:017x}",
            "UserData": text(rng),
            "MetadataOptions": {"HttpTokens": "optional" if bad else "required"},
        }
        if bad and i % 2:
            data["KeyName"] = "ops"
        return f"launch-template/lt-{i:017x}", {
            "LaunchTemplateId": f"lt-{i:017x}",
            "LaunchTemplateName": f"lt{i}",
            "DefaultVersionNumber": 1,
            "LatestVersionNumber": 1,
            "VersionsInUse": ["1"],
            "Versions": {
                "1": {"VersionNumber": 1, "CreateTime": ago(rng, 1, 50), "LaunchTemplateData": data}
            },
        }
    if kind is Kind.ASG:
        return f"autoScalingGroup:x:autoScalingGroupName/asg-{i}", {
            "AutoScalingGroupName": f"asg-{i}",
            "LaunchTemplate": {
                "LaunchTemplateId": f"lt-{i:017x}",
                "Version": "$Latest" if bad else "1",
            },
            "ResolvedLaunchTemplateVersion": "1",
            "MaxInstanceLifetime": 14 * 86400,
            "MinSize": 1,
            "MaxSize": 4,
            "DesiredCapacity": 2,
            "CreatedTime": ago(rng, 10, 300),
            "Instances": [],
        }
    if kind is Kind.EC2_SECURITY_GROUP:
        cidr = "0.0.0.0/0" if bad else "10.0.0.0/8"
        return f"security-group/sg-{i:017x}", {
            "GroupId": f"sg-{i:017x}",
            "GroupName": f"g{i}",
            "AttachedTo": ["i-1"],
            "IpPermissions": [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                },
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": cidr}]},
            ],
        }
    if kind is Kind.ECS_SERVICE:
        return f"service/prod/s{i}", {
            "serviceName": f"s{i}",
            "clusterArn": "c",
            "taskDefinition": f"td{i}",
            "desiredCount": 2,
            "runningCount": 2,
            "enableExecuteCommand": bad,
            "createdAt": ago(rng, 1, 100),
            "deployments": [],
        }
    if kind is Kind.ECS_TASK_DEFINITION:
        image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web" + (
            ":latest" if bad else f"@{DIGEST}"
        )
        return f"task-definition/web{i}:1", {
            "family": f"web{i}",
            "revision": 1,
            "networkMode": "awsvpc",
            "containerDefinitions": [
                {
                    "name": "web",
                    "image": image,
                    "readonlyRootFilesystem": not bad,
                    "user": "1000",
                    "environment": [{"name": "LOG_LEVEL", "value": text(rng)}],
                    "secrets": [],
                },
                {
                    "name": "envoy",
                    "image": f"envoy@{DIGEST}",
                    "readonlyRootFilesystem": True,
                    "user": "101",
                    "environment": [],
                    "secrets": [],
                },
            ],
        }
    if kind is Kind.ECS_TASK:
        return f"task/prod/{i:032x}", {
            "clusterArn": "c",
            "taskDefinitionArn": "td",
            "startedAt": ago(rng, 0, 40 if bad else 25),
            "lastStatus": "RUNNING",
            "containers": [
                {
                    "name": "web",
                    "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web:v1",
                    "imageDigest": f"sha256:{i % 1000:064x}",
                    "lastStatus": "RUNNING",
                }
            ],
        }
    if kind is Kind.ECR_REPOSITORY:
        return f"repository/r{i}", {
            "repositoryName": f"r{i}",
            "imageTagMutability": "MUTABLE" if bad else "IMMUTABLE",
        }
    if kind is Kind.ECR_IMAGE:
        digest = f"sha256:{i % 1000:064x}"
        return f"repository/web@{digest}", {
            "repositoryName": "web",
            "registryId": ACCOUNT,
            "imageDigest": digest,
            "imagePushedAt": ago(rng, 1, 150 if bad else 80),
        }
    if kind is Kind.EKS_NODEGROUP:
        return f"nodegroup/c/n{i}/x", {
            "nodegroupName": f"n{i}",
            "clusterName": "c",
            "releaseVersion": "1.31.0-20260901",
            "status": "ACTIVE",
            "remoteAccess": {"ec2SshKey": "ops"} if bad else {},
        }
    return f"cluster/c{i}", {
        "name": f"c{i}",
        "version": "1.29" if bad else "1.31",
        "status": "ACTIVE",
        "resourcesVpcConfig": {"endpointPublicAccess": bad, "publicAccessCidrs": ["0.0.0.0/0"]},
    }


def resource_id(kind: Kind, path: str) -> str:
    """The id docs/resources.md gives each kind, from the ARN's resource part."""
    if kind in (Kind.ECS_SERVICE, Kind.ECS_TASK):
        return path.split("/", 1)[1]
    if kind is Kind.EKS_NODEGROUP:
        return "/".join(path.split("/")[1:3])
    if kind is Kind.ECR_IMAGE:
        return path.split("/", 1)[1]
    return path.rsplit("/", 1)[-1]


def synthetic(count: int, bad_share: float = 0.05, seed: int = 7) -> Snapshot:
    rng = random.Random(seed)
    resources: list[Resource] = []
    for kind, share in MIX.items():
        service = kind.value.split(".")[0]
        for i in range(int(count * share)):
            path, attrs = attributes(kind, i, rng, bad_share)
            resources.append(
                Resource(
                    kind,
                    f"arn:aws:{service}:{REGION}:{ACCOUNT}:{path}",
                    resource_id(kind, path),
                    ACCOUNT,
                    REGION,
                    {"Team": f"t{i % 20}"},
                    attrs,
                    NOW,
                )
            )
    return Snapshot(
        "bench", NOW, NOW, Scope((ACCOUNT,), (REGION,), tuple(Service)), tuple(resources), (), {}
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    parser.add_argument(
        "--bad-share", type=float, default=0.05, help="share of violating resources"
    )
    args = parser.parse_args()
    # as in production without a Terraform state: the iac.* rules do not run
    rules = cycle_rules(load_rules(RulesConfig()), Settings())
    snapshot = synthetic(args.resources, args.bad_share)
    evaluations = sum(len(rules.by_kind.get(r.kind, ())) for r in snapshot.resources)
    best = best_cpu = float("inf")
    findings = 0
    for _ in range(args.repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = evaluate(snapshot, rules, (), FixedClock(NOW))
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
        findings = len(result.findings)
    peak_mb = rusage.getrusage(rusage.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"resources: {len(snapshot.resources):,}  rules: {len(rules)}  "
        f"rule evaluations: {evaluations:,}"
    )
    print(f"findings: {findings:,}  best of {args.repeat}: {best:.3f} s wall, {best_cpu:.3f} s CPU")
    print(f"rule evaluations per second (wall): {evaluations / best:,.0f}")
    print(f"rule evaluations per second (CPU, one core): {evaluations / best_cpu:,.0f}")
    print(f"peak memory (RSS): {peak_mb:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

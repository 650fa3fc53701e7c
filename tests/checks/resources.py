"""Hand-made Resource values following docs/resources.md, compliant unless told otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from auditor.model import CollectionGap, Kind, Resource, iso
from tests.conftest import NOW

ACCOUNT = "123456789012"
REGION = "us-east-1"


def ago(days: float) -> str:
    return iso(NOW - timedelta(days=days))


def clean_text() -> dict[str, Any]:
    return {"present": True, "sha256": "ab" * 32, "size": 120, "secrets": []}


def secret_text(location: str = "line 3") -> dict[str, Any]:
    hit = {"location": location, "detector": "AWS Access Key", "hash": "0123456789ab"}
    return {"present": True, "sha256": "cd" * 32, "size": 140, "secrets": [hit]}


def make(
    kind: Kind,
    rid: str,
    arn: str,
    attributes: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
    unavailable: tuple[str, ...] = (),
) -> Resource:
    return Resource(
        kind=kind,
        arn=arn,
        id=rid,
        account=ACCOUNT,
        region=REGION,
        tags=dict(tags or {}),
        attributes=dict(attributes),
        observed_at=NOW,
        unavailable=unavailable,
    )


def change(resource: Resource, drop: tuple[str, ...] = (), **attrs: Any) -> Resource:
    """A copy with top-level attributes replaced (or dropped)."""
    merged = {k: v for k, v in resource.attributes.items() if k not in drop}
    merged.update(attrs)
    return replace(resource, attributes=merged)


def instance(**attrs: Any) -> Resource:
    base: dict[str, Any] = {
        "InstanceId": "i-0abc",
        "InstanceType": "t3.micro",
        "ImageId": "ami-0new",
        "LaunchTime": ago(5),
        "State": {"Name": "running"},
        "StateTransitionReason": "",
        "MetadataOptions": {
            "HttpTokens": "required",
            "HttpEndpoint": "enabled",
            "HttpPutResponseHopLimit": 2,
        },
        "SecurityGroups": [{"GroupId": "sg-0web", "GroupName": "web"}],
        "SourceDestCheck": True,
        "BlockDeviceMappings": [],
        "UserData": clean_text(),
        "AutoScalingGroupName": "web",
        "LaunchTemplate": {"LaunchTemplateId": "lt-0web", "Version": "3"},
    }
    base.update(attrs)
    return make(
        Kind.EC2_INSTANCE, "i-0abc", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0abc", base
    )


def image(image_id: str = "ami-0new", created_days_ago: float = 10, **attrs: Any) -> Resource:
    base: dict[str, Any] = {
        "ImageId": image_id,
        "Name": "web-2026",
        "CreationDate": ago(created_days_ago),
        "OwnerId": ACCOUNT,
        "State": "available",
        "Public": False,
    }
    base.update(attrs)
    return make(Kind.EC2_IMAGE, image_id, f"arn:aws:ec2:{REGION}:{ACCOUNT}:image/{image_id}", base)


def lt_version(number: str, **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ImageId": "ami-0new",
        "InstanceType": "t3.micro",
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "SecurityGroupIds": ["sg-0web"],
        "UserData": clean_text(),
    }
    body.update(data)
    return {"VersionNumber": int(number), "CreateTime": ago(10), "LaunchTemplateData": body}


def launch_template(*versions: dict[str, Any], in_use: tuple[str, ...] = ("3",)) -> Resource:
    chosen = versions or (lt_version("3"),)
    base = {
        "LaunchTemplateId": "lt-0web",
        "LaunchTemplateName": "web",
        "DefaultVersionNumber": 3,
        "LatestVersionNumber": 3,
        "VersionsInUse": list(in_use),
        "Versions": {str(v["VersionNumber"]): v for v in chosen},
    }
    return make(
        Kind.EC2_LAUNCH_TEMPLATE,
        "lt-0web",
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/lt-0web",
        base,
    )


def asg(**attrs: Any) -> Resource:
    arn = (
        f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:"
        "0000-1111:autoScalingGroupName/web"
    )
    base: dict[str, Any] = {
        "AutoScalingGroupName": "web",
        "AutoScalingGroupARN": arn,
        "LaunchTemplate": {
            "LaunchTemplateId": "lt-0web",
            "LaunchTemplateName": "web",
            "Version": "3",
        },
        "MaxInstanceLifetime": 14 * 86400,
        "MinSize": 1,
        "MaxSize": 3,
        "DesiredCapacity": 2,
        "CreatedTime": ago(100),
        "Instances": [],
        "ResolvedLaunchTemplateVersion": "3",
    }
    base.update(attrs)
    return make(Kind.ASG, "web", arn, base)


def security_group(*permissions: dict[str, Any], attached: bool = True) -> Resource:
    base = {
        "GroupId": "sg-0web",
        "GroupName": "web",
        "VpcId": "vpc-1",
        "IpPermissions": list(permissions),
        "AttachedTo": [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0abc"] if attached else [],
    }
    return make(
        Kind.EC2_SECURITY_GROUP,
        "sg-0web",
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-0web",
        base,
    )


def permission(
    protocol: str = "tcp",
    low: int | None = 22,
    high: int | None = 22,
    cidr: str | None = "10.0.0.0/8",
    cidr6: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "IpProtocol": protocol,
        "IpRanges": [{"CidrIp": cidr}] if cidr else [],
        "Ipv6Ranges": [{"CidrIpv6": cidr6}] if cidr6 else [],
        "UserIdGroupPairs": [],
    }
    if low is not None:
        out["FromPort"], out["ToPort"] = low, high
    return out


CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"
TASKDEF_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:7"
DIGEST = "sha256:" + "a" * 64
REPO_URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web"


def ecs_service(**attrs: Any) -> Resource:
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/web"
    base: dict[str, Any] = {
        "serviceArn": arn,
        "serviceName": "web",
        "clusterArn": CLUSTER_ARN,
        "taskDefinition": TASKDEF_ARN,
        "desiredCount": 2,
        "runningCount": 2,
        "launchType": "FARGATE",
        "enableExecuteCommand": False,
        "createdAt": ago(50),
        "deployments": [],
    }
    base.update(attrs)
    return make(Kind.ECS_SERVICE, "prod/web", arn, base)


def container(**attrs: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "web",
        "image": f"{REPO_URI}@{DIGEST}",
        "essential": True,
        "readonlyRootFilesystem": True,
        "user": "1000",
        "environment": [
            {"name": "LOG_LEVEL", "value": {**clean_text(), "size": 4}},
        ],
        "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:x"}],
    }
    base.update(attrs)
    return base


def task_definition(*containers: dict[str, Any], **attrs: Any) -> Resource:
    base: dict[str, Any] = {
        "taskDefinitionArn": TASKDEF_ARN,
        "family": "web",
        "revision": 7,
        "networkMode": "awsvpc",
        "registeredAt": ago(20),
        "requiresCompatibilities": ["FARGATE"],
        "containerDefinitions": list(containers or (container(),)),
    }
    base.update(attrs)
    return make(Kind.ECS_TASK_DEFINITION, "web:7", TASKDEF_ARN, base)


def ecs_task(**attrs: Any) -> Resource:
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/0123abcd"
    base: dict[str, Any] = {
        "taskArn": arn,
        "clusterArn": CLUSTER_ARN,
        "taskDefinitionArn": TASKDEF_ARN,
        "group": "service:web",
        "startedAt": ago(3),
        "createdAt": ago(3),
        "lastStatus": "RUNNING",
        "launchType": "FARGATE",
        "containers": [
            {
                "name": "web",
                "image": f"{REPO_URI}:v42",
                "imageDigest": DIGEST,
                "lastStatus": "RUNNING",
            }
        ],
        "ServiceName": "web",
    }
    base.update(attrs)
    return make(Kind.ECS_TASK, "prod/0123abcd", arn, base)


def ecr_repository(**attrs: Any) -> Resource:
    arn = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/web"
    base: dict[str, Any] = {
        "repositoryName": "web",
        "repositoryArn": arn,
        "repositoryUri": REPO_URI,
        "registryId": ACCOUNT,
        "imageTagMutability": "IMMUTABLE",
        "imageScanningConfiguration": {"scanOnPush": True},
        "createdAt": ago(300),
    }
    base.update(attrs)
    return make(Kind.ECR_REPOSITORY, "web", arn, base)


def ecr_image(pushed_days_ago: float = 10, digest: str = DIGEST) -> Resource:
    rid = f"web@{digest}"
    base = {
        "repositoryName": "web",
        "registryId": ACCOUNT,
        "imageDigest": digest,
        "imageTags": ["v42"],
        "imagePushedAt": ago(pushed_days_ago),
    }
    return make(Kind.ECR_IMAGE, rid, f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{rid}", base)


def eks_cluster(**attrs: Any) -> Resource:
    arn = f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/prod"
    base: dict[str, Any] = {
        "name": "prod",
        "arn": arn,
        "version": "1.31",
        "status": "ACTIVE",
        "createdAt": ago(200),
        "resourcesVpcConfig": {
            "endpointPublicAccess": False,
            "endpointPrivateAccess": True,
            "publicAccessCidrs": [],
        },
    }
    base.update(attrs)
    return make(Kind.EKS_CLUSTER, "prod", arn, base)


def nodegroup(**attrs: Any) -> Resource:
    arn = f"arn:aws:eks:{REGION}:{ACCOUNT}:nodegroup/prod/workers/0000"
    base: dict[str, Any] = {
        "nodegroupName": "workers",
        "nodegroupArn": arn,
        "clusterName": "prod",
        "version": "1.31",
        "releaseVersion": "1.31.0-20261101",
        "amiType": "AL2023_x86_64_STANDARD",
        "status": "ACTIVE",
        "createdAt": ago(40),
        "scalingConfig": {"minSize": 1, "maxSize": 3, "desiredSize": 2},
        "resources": {"autoScalingGroups": [{"name": "eks-workers"}]},
    }
    base.update(attrs)
    return make(Kind.EKS_NODEGROUP, "prod/workers", arn, base)


def gap(
    *kinds: Kind, region: str = REGION, resource_arn: str | None = None, account: str = ACCOUNT
) -> CollectionGap:
    return CollectionGap(
        account=account,
        region=region,
        service=kinds[0].service,
        kinds=kinds,
        operation="test:Describe",
        error_code="AccessDenied",
        message="not authorized",
        resource_arn=resource_arn,
    )

"""Each moto backdoor in auditor.demo.aging, checked through the public describe_* API."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest

from auditor.demo import aging
from auditor.demo.cell import b64
from tests.conftest import NOW
from tests.demo.conftest import ClientFactory

ACCOUNT = "333333333333"
REGION = "us-east-1"
LONG_AGO = NOW - timedelta(days=123)


@pytest.fixture(scope="session")
def aws(client: ClientFactory) -> Any:
    def make(service: str) -> Any:
        return client(service, ACCOUNT, REGION)

    return make


@pytest.fixture
def image_id(aws: Any) -> str:
    return str(aws("ec2").register_image(Name="golden-test", RootDeviceName="/dev/xvda")["ImageId"])


def _launch(aws: Any, image_id: str, **extra: Any) -> str:
    reservation = aws("ec2").run_instances(ImageId=image_id, MinCount=1, MaxCount=1, **extra)
    return str(reservation["Instances"][0]["InstanceId"])


def _instance(aws: Any, instance_id: str) -> Any:
    return aws("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][
        0
    ]


def test_instance_launch_time_and_volume_attach_time(aws: Any, image_id: str) -> None:
    """set_instance_launch_times: LaunchTime and the root volume's AttachTime."""
    instance_id = _launch(aws, image_id)
    aging.set_instance_launch_times(ACCOUNT, REGION, {instance_id: LONG_AGO})
    instance = _instance(aws, instance_id)
    attach = instance["BlockDeviceMappings"][0]["Ebs"]["AttachTime"]
    assert (LONG_AGO, LONG_AGO) == (instance["LaunchTime"], attach)


def test_stopped_since_reads_like_aws(aws: Any, image_id: str) -> None:
    """set_instance_stopped_since: StateTransitionReason in AWS's user-stop wording."""
    instance_id = _launch(aws, image_id)
    aws("ec2").stop_instances(InstanceIds=[instance_id])
    aging.set_instance_stopped_since(ACCOUNT, REGION, instance_id, LONG_AGO)
    instance = _instance(aws, instance_id)
    expected = f"User initiated ({LONG_AGO:%Y-%m-%d %H:%M:%S} GMT)"
    assert ("stopped", expected) == (instance["State"]["Name"], instance["StateTransitionReason"])


def test_metadata_options(aws: Any, image_id: str) -> None:
    """set_instance_metadata_options: MetadataOptions.HttpTokens as a template would set."""
    instance_id = _launch(aws, image_id)
    assert "optional" == _instance(aws, instance_id)["MetadataOptions"]["HttpTokens"]
    aging.set_instance_metadata_options(ACCOUNT, REGION, [instance_id], {"HttpTokens": "required"})
    assert "required" == _instance(aws, instance_id)["MetadataOptions"]["HttpTokens"]


def test_image_creation_and_deprecation(aws: Any, image_id: str) -> None:
    """set_image_dates: CreationDate and DeprecationTime (which moto has no API for)."""
    deprecated = NOW - timedelta(days=3)
    aging.set_image_dates(ACCOUNT, REGION, image_id, created=LONG_AGO, deprecated=deprecated)
    image = aws("ec2").describe_images(ImageIds=[image_id])["Images"][0]
    assert (
        LONG_AGO.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        deprecated.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    ) == (
        image["CreationDate"],
        image["DeprecationTime"],
    )


def test_drop_public_images_keeps_our_own(aws: Any, image_id: str) -> None:
    """drop_public_images: moto's built-in AMIs are gone, the account's own remain."""
    aging.drop_public_images(ACCOUNT, REGION)
    ec2 = aws("ec2")
    assert [] == ec2.describe_images(Owners=["amazon"])["Images"]
    assert [image_id] == [i["ImageId"] for i in ec2.describe_images(ImageIds=[image_id])["Images"]]


def test_launch_template_versions_can_be_launched(aws: Any, image_id: str) -> None:
    """repair_launch_template_user_data: a second version's user data survives, and
    instances launched from it get it (moto fails this launch without the repair)."""
    ec2 = aws("ec2")
    template_id = ec2.create_launch_template(
        LaunchTemplateName="lt-aging",
        LaunchTemplateData={"ImageId": image_id, "UserData": b64("v1")},
    )["LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_launch_template_version(
        LaunchTemplateId=template_id,
        LaunchTemplateData={"ImageId": image_id, "UserData": b64("v2")},
    )
    aging.repair_launch_template_user_data(ACCOUNT, REGION, template_id)
    instance_id = _launch(aws, "", LaunchTemplate={"LaunchTemplateId": template_id, "Version": "2"})
    value = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    assert b"v2" == base64.b64decode(value["UserData"]["Value"])


def test_asg_created_time_and_lifetime(aws: Any, image_id: str) -> None:
    """set_asg_created_time: CreatedTime; set_asg_max_instance_lifetime:
    MaxInstanceLifetime (moto drops the CreateAutoScalingGroup parameter)."""
    autoscaling = aws("autoscaling")
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="lc-aging", ImageId=image_id, InstanceType="t3.micro"
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="asg-aging",
        LaunchConfigurationName="lc-aging",
        MinSize=0,
        MaxSize=1,
        AvailabilityZones=[f"{REGION}a"],
    )
    aging.set_asg_created_time(ACCOUNT, REGION, "asg-aging", LONG_AGO)
    aging.set_asg_max_instance_lifetime(ACCOUNT, REGION, "asg-aging", 604800)
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["asg-aging"])
    found = group["AutoScalingGroups"][0]
    assert (LONG_AGO, 604800) == (found["CreatedTime"], found["MaxInstanceLifetime"])


def test_ecs_task_and_service_state(aws: Any) -> None:
    """set_task_times: startedAt, createdAt, containers[].imageDigest; set_service_state:
    enableExecuteCommand, createdAt, the deployment's dates and runningCount."""
    ecs = aws("ecs")
    ecs.create_cluster(clusterName="aging")
    ecs.register_task_definition(
        family="aging",
        containerDefinitions=[{"name": "app", "image": "repo/app:1", "memory": 128}],
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
    )
    ec2 = aws("ec2")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
    network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}}
    ecs.create_service(
        cluster="aging",
        serviceName="svc",
        taskDefinition="aging",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network,
    )
    aging.set_service_state(
        ACCOUNT, REGION, "aging", "svc", created=LONG_AGO, exec_enabled=True, running_count=1
    )
    service = ecs.describe_services(cluster="aging", services=["svc"])["services"][0]
    assert (True, LONG_AGO, LONG_AGO, 1) == (
        service["enableExecuteCommand"],
        service["createdAt"],
        service["deployments"][0]["createdAt"],
        service["runningCount"],
    )
    task_arn = ecs.run_task(
        cluster="aging", taskDefinition="aging", launchType="FARGATE", networkConfiguration=network
    )["tasks"][0]["taskArn"]
    digest = "sha256:" + "ab" * 32
    aging.set_task_times(ACCOUNT, REGION, "aging", {task_arn: LONG_AGO}, {task_arn: digest})
    for _ in range(3):  # described repeatedly, a task stays RUNNING (DemoServer's setting)
        task = ecs.describe_tasks(cluster="aging", tasks=[task_arn])["tasks"][0]
    assert (LONG_AGO, LONG_AGO, digest, "RUNNING") == (
        task["startedAt"],
        task["createdAt"],
        task["containers"][0]["imageDigest"],
        task["lastStatus"],
    )


def test_ecr_image_pushed_at(aws: Any) -> None:
    """set_image_pushed_at: imagePushedAt of the image with that digest."""
    ecr = aws("ecr")
    ecr.create_repository(repositoryName="aging")
    media = "application/vnd.docker.distribution.manifest.v2+json"
    layer = "sha256:" + "cd" * 32
    manifest = json.dumps({"schemaVersion": 2, "mediaType": media, "layers": [{"digest": layer}]})
    pushed = ecr.put_image(repositoryName="aging", imageManifest=manifest, imageTag="1")
    digest = pushed["image"]["imageId"]["imageDigest"]
    aging.set_image_pushed_at(ACCOUNT, REGION, "aging", digest, LONG_AGO)
    details = ecr.describe_images(repositoryName="aging")["imageDetails"][0]
    assert LONG_AGO == details["imagePushedAt"]


def test_eks_cluster_and_nodegroup_state(aws: Any) -> None:
    """set_eks_cluster_created: createdAt; set_nodegroup_state: no invented remoteAccess,
    the real ASG name and remote-access group, and createdAt."""
    eks = aws("eks")
    subnets = [s["SubnetId"] for s in aws("ec2").describe_subnets()["Subnets"][:2]]
    role = f"arn:aws:iam::{ACCOUNT}:role/eks"
    eks.create_cluster(name="aging", roleArn=role, resourcesVpcConfig={"subnetIds": subnets})
    eks.create_nodegroup(clusterName="aging", nodegroupName="ng", nodeRole=role, subnets=subnets)
    aging.set_eks_cluster_created(ACCOUNT, REGION, "aging", LONG_AGO)
    aging.set_nodegroup_state(
        ACCOUNT,
        REGION,
        "aging",
        "ng",
        created=LONG_AGO,
        remote_access=None,
        remote_access_sg=None,
        asg_name="eks-ng-asg",
    )
    cluster = eks.describe_cluster(name="aging")["cluster"]
    group = eks.describe_nodegroup(clusterName="aging", nodegroupName="ng")["nodegroup"]
    assert (LONG_AGO, LONG_AGO, None, {"autoScalingGroups": [{"name": "eks-ng-asg"}]}) == (
        cluster["createdAt"],
        group["createdAt"],
        group.get("remoteAccess"),
        group["resources"],
    )


def test_aging_refuses_naive_datetimes(aws: Any, image_id: str) -> None:
    """A naive datetime is a bug (every datetime in auditor is tz-aware UTC)."""
    with pytest.raises(ValueError, match="naive"):
        aging.set_image_dates(ACCOUNT, REGION, image_id, created=NOW.replace(tzinfo=None))

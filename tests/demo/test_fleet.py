"""The seeded demo fleet, checked through the public AWS API of the moto server."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from auditor.demo.fleet import seed_fleet
from auditor.demo.manifest import RULE_IDS, FleetManifest
from auditor.demo.server import DemoServer
from tests.conftest import NOW
from tests.demo.conftest import ClientFactory, Seeded

ACCOUNTS = ("111111111111", "222222222222")
REGION = "eu-west-1"


@pytest.fixture
def fleet(demo_server: DemoServer, seeded: Seeded[FleetManifest]) -> FleetManifest:
    return seeded(
        "fleet",
        lambda: seed_fleet(demo_server.endpoint_url, accounts=ACCOUNTS, regions=(REGION,), now=NOW),
    )


def _instances(client: ClientFactory, account: str) -> list[dict[str, Any]]:
    pages = client("ec2", account, REGION).get_paginator("describe_instances").paginate()
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def _arn(account: str, kind: str, resource_id: str) -> str:
    return f"arn:aws:ec2:{REGION}:{account}:{kind}/{resource_id}"


def _live_arns(client: ClientFactory, account: str) -> Iterator[str]:
    """Every ARN of the account's resources, as describe/list calls report them."""
    ec2 = client("ec2", account, REGION)
    for instance in _instances(client, account):
        yield _arn(account, "instance", str(instance["InstanceId"]))
    for group in ec2.describe_security_groups()["SecurityGroups"]:
        yield _arn(account, "security-group", group["GroupId"])
    for template in ec2.describe_launch_templates()["LaunchTemplates"]:
        yield _arn(account, "launch-template", template["LaunchTemplateId"])
    autoscaling = client("autoscaling", account, REGION)
    for asg in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]:
        yield asg["AutoScalingGroupARN"]
    ecs = client("ecs", account, REGION)
    for cluster in ecs.list_clusters()["clusterArns"]:
        tasks = ecs.list_tasks(cluster=cluster)["taskArns"]
        yield from tasks
        for task in ecs.describe_tasks(cluster=cluster, tasks=tasks)["tasks"]:
            yield task["taskDefinitionArn"]
    for service in _services(client, account):
        yield str(service["serviceArn"])
        yield str(service["taskDefinition"])
    for repo in client("ecr", account, REGION).describe_repositories()["repositories"]:
        yield repo["repositoryArn"]
    eks = client("eks", account, REGION)
    for name in eks.list_clusters()["clusters"]:
        yield eks.describe_cluster(name=name)["cluster"]["arn"]
        for group_name in eks.list_nodegroups(clusterName=name)["nodegroups"]:
            group = eks.describe_nodegroup(clusterName=name, nodegroupName=group_name)
            yield group["nodegroup"]["nodegroupArn"]


def _services(client: ClientFactory, account: str) -> list[dict[str, Any]]:
    ecs = client("ecs", account, REGION)
    found = []
    for cluster in ecs.list_clusters()["clusterArns"]:
        arns = ecs.list_services(cluster=cluster)["serviceArns"]
        for start in range(0, len(arns), 10):
            chunk = arns[start : start + 10]
            found += ecs.describe_services(cluster=cluster, services=chunk)["services"]
    return found


def test_every_rule_fires_and_most_of_the_estate_passes(fleet: FleetManifest) -> None:
    """Each built-in rule has violators, and for every rule most instances, tasks and
    services are not among them: the demo looks like a real, mostly healthy estate."""
    assert () == fleet.rules_without_violations()
    assert set(RULE_IDS) == set(fleet.expected_failures)
    for rule in RULE_IDS:
        kind = {"ec2": "ec2.instance", "ecs": "ecs.task_definition"}.get(rule.split(".")[0])
        if kind == "ec2.instance":
            assert len(fleet.failing(rule)) < fleet.counts[kind] / 2, rule
    assert fleet.total_resources >= 100


def test_every_expected_violator_exists_on_the_server(
    fleet: FleetManifest, client: ClientFactory
) -> None:
    """The manifest names real resources: every ARN it expects to fail is one the AWS API
    reports, so a rule that misses it is a real miss, not a typo in the seeder."""
    live = {arn for account in ACCOUNTS for arn in _live_arns(client, account)}
    expected = set().union(*fleet.expected_failures.values())
    assert set() == expected - live


def test_counts_match_what_the_api_reports(fleet: FleetManifest, client: ClientFactory) -> None:
    """Instance, ASG, service and repository counts equal what describe calls return."""
    instances = sum(len(_instances(client, a)) for a in ACCOUNTS)
    asgs = sum(
        len(client("autoscaling", a, REGION).describe_auto_scaling_groups()["AutoScalingGroups"])
        for a in ACCOUNTS
    )
    services = sum(len(_services(client, a)) for a in ACCOUNTS)
    repos = sum(
        len(client("ecr", a, REGION).describe_repositories()["repositories"]) for a in ACCOUNTS
    )
    expected = (
        fleet.counts["ec2.instance"],
        fleet.counts["autoscaling.group"],
        fleet.counts["ecs.service"],
        fleet.counts["ecr.repository"],
    )
    assert expected == (instances, asgs, services, repos)


def test_accounts_are_separate(fleet: FleetManifest, client: ClientFactory) -> None:
    """Resources seeded through the assumed role of each account live in that account only."""
    first, second = ({str(i["InstanceId"]) for i in _instances(client, a)} for a in ACCOUNTS)
    assert first
    assert second
    assert set() == first & second
    for account, ids in zip(ACCOUNTS, (first, second), strict=True):
        failing = {
            arn.rsplit("/", 1)[1]
            for arn in fleet.failing("ec2.unmanaged_pet")
            if f":{account}:" in arn
        }
        assert failing
        assert failing <= ids


def test_amis_report_old_and_deprecated_dates(fleet: FleetManifest, client: ClientFactory) -> None:
    """Old AMIs report their backdated CreationDate and deprecated ones a past
    DeprecationTime; the deregistered AMI of a running instance is not returned."""
    ec2 = client("ec2", ACCOUNTS[0], REGION)
    images = {
        i["Name"].rsplit("-", 1)[1]: i for i in ec2.describe_images(Owners=["self"])["Images"]
    }
    assert {"fresh", "old", "deprecated"} == set(images)
    created = {label: datetime.fromisoformat(i["CreationDate"]) for label, i in images.items()}
    assert NOW - timedelta(days=400) == created["old"]
    assert NOW - timedelta(days=12) == created["fresh"]
    assert NOW - timedelta(days=20) == datetime.fromisoformat(
        images["deprecated"]["DeprecationTime"]
    )
    etl = [
        i
        for i in _instances(client, ACCOUNTS[0])
        if {"Key": "Name", "Value": "nightly-etl"} in i["Tags"]
    ]
    assert (
        []
        == ec2.describe_images(Filters=[{"Name": "image-id", "Values": [str(etl[0]["ImageId"])]}])[
            "Images"
        ]
    )


def test_instances_report_old_launch_times_and_a_long_stop(
    fleet: FleetManifest, client: ClientFactory
) -> None:
    """Instances expected to fail ec2.max_age launched more than 30 days ago, the others
    less; the stopped database says when it was stopped, in AWS's wording."""
    for account in ACCOUNTS:
        for instance in _instances(client, account):
            arn = _arn(account, "instance", str(instance["InstanceId"]))
            launched = instance["LaunchTime"]
            assert isinstance(launched, datetime)
            if instance["State"]["Name"] == "running":
                old = NOW - launched > timedelta(days=30)
                assert (arn in fleet.failing("ec2.max_age")) == old, arn
    stopped = [i for i in _instances(client, ACCOUNTS[1]) if i["State"]["Name"] == "stopped"]
    stop_day = (NOW - timedelta(days=75)).strftime("%Y-%m-%d %H:%M:%S")
    assert [f"User initiated ({stop_day} GMT)"] == [i["StateTransitionReason"] for i in stopped]


def test_instance_settings_match_the_manifest(fleet: FleetManifest, client: ClientFactory) -> None:
    """KeyName and IMDS HttpTokens of every instance (including those launched by ASGs from
    a launch template) agree with the instance rules the manifest expects to fail."""
    for account in ACCOUNTS:
        for instance in _instances(client, account):
            arn = _arn(account, "instance", str(instance["InstanceId"]))
            has_key = "KeyName" in instance
            assert (arn in fleet.failing("ec2.ssh_keypair_attached")) == has_key, arn
            optional = instance["MetadataOptions"]["HttpTokens"] != "required"
            assert (arn in fleet.failing("ec2.imdsv2_required")) == optional, arn


def test_asg_settings_match_the_manifest(fleet: FleetManifest, client: ClientFactory) -> None:
    """Each group's MaxInstanceLifetime, launch template version and launch configuration
    agree with the ASG rules the manifest expects to fail."""
    for account in ACCOUNTS:
        autoscaling = client("autoscaling", account, REGION)
        for group in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]:
            arn = group["AutoScalingGroupARN"]
            lifetime = group.get("MaxInstanceLifetime")
            too_long = lifetime is None or lifetime > 30 * 86400
            assert (arn in fleet.failing("asg.max_instance_lifetime")) == too_long, arn
            version = group.get("LaunchTemplate", {}).get("Version")
            mutable = version in ("$Latest", "$Default")
            assert (arn in fleet.failing("asg.launch_template_version_mutable")) == mutable, arn
            uses_lc = "LaunchConfigurationName" in group
            assert (arn in fleet.failing("asg.uses_launch_configuration")) == uses_lc, arn


def _user_data(client: ClientFactory, account: str, instance_id: str) -> str:
    attribute = client("ec2", account, REGION).describe_instance_attribute(
        InstanceId=instance_id, Attribute="userData"
    )
    raw = base64.b64decode(attribute["UserData"].get("Value", ""))
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()


def test_user_data_secrets_are_where_the_manifest_says(
    fleet: FleetManifest, client: ClientFactory
) -> None:
    """Instances expected to fail ec2.userdata_secrets carry an AWS key or a password in
    their (possibly gzipped) user data; compliant ones carry none."""
    account = ACCOUNTS[0]
    leaky = [a for a in fleet.failing("ec2.userdata_secrets") if f":{account}:" in a]
    clean = [
        _arn(account, "instance", str(i["InstanceId"]))
        for i in _instances(client, account)
        if _arn(account, "instance", str(i["InstanceId"]))
        not in fleet.failing("ec2.userdata_secrets")
    ]
    assert leaky
    assert clean
    for arn in leaky:
        text = _user_data(client, account, arn.rsplit("/", 1)[1])
        assert "AKIA" in text or "DB_PASSWORD=" in text, arn
    for arn in clean:
        text = _user_data(client, account, arn.rsplit("/", 1)[1])
        assert "AKIA" not in text, arn
        assert "PASSWORD" not in text, arn


def test_ecs_tasks_services_and_images_report_their_age(
    fleet: FleetManifest, client: ClientFactory
) -> None:
    """Tasks stay RUNNING and report backdated startedAt (old ones fail
    ecs.task_max_age), ECS Exec shows where expected, and images report imagePushedAt."""
    account = ACCOUNTS[0]
    ecs = client("ecs", account, REGION)
    tasks = ecs.describe_tasks(cluster="apps", tasks=ecs.list_tasks(cluster="apps")["taskArns"])
    assert tasks["tasks"]
    for task in tasks["tasks"]:
        assert "RUNNING" == task["lastStatus"]
        old = NOW - task["startedAt"] > timedelta(days=30)
        assert (task["taskArn"] in fleet.failing("ecs.task_max_age")) == old
        assert task["containers"][0]["imageDigest"].startswith("sha256:")
    for service in _services(client, account):
        exec_on = bool(service.get("enableExecuteCommand"))
        assert (service["serviceArn"] in fleet.failing("ecs.exec_enabled")) == exec_on
    ecr = client("ecr", account, REGION)
    worker = ecr.describe_images(repositoryName="worker")["imageDetails"][0]
    assert NOW - timedelta(days=300) == worker["imagePushedAt"].astimezone(UTC)


def test_node_groups_have_remote_access_only_where_seeded(
    fleet: FleetManifest, client: ClientFactory
) -> None:
    """The legacy node group lets SSH in from anywhere (its remote-access security group
    opens 22 to 0.0.0.0/0), the debug one only from a source group, the general one not
    at all; release versions carry the backdated AMI build date."""
    eks, ec2 = client("eks", ACCOUNTS[0], REGION), client("ec2", ACCOUNTS[0], REGION)
    legacy = eks.describe_nodegroup(clusterName="legacy", nodegroupName="workers")["nodegroup"]
    debug = eks.describe_nodegroup(clusterName="platform", nodegroupName="debug")["nodegroup"]
    general = eks.describe_nodegroup(clusterName="platform", nodegroupName="general")["nodegroup"]
    assert {"ec2SshKey": "eks-nodes"} == legacy["remoteAccess"]
    assert ["ec2SshKey", "sourceSecurityGroups"] == sorted(debug["remoteAccess"])
    assert "remoteAccess" not in general
    group_id = legacy["resources"]["remoteAccessSecurityGroup"]
    rules = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissions"]
    assert [[{"CidrIp": "0.0.0.0/0"}]] == [r["IpRanges"] for r in rules if r["FromPort"] == 22]
    built = (NOW - timedelta(days=150)).strftime("%Y%m%d")
    assert legacy["releaseVersion"].endswith(built)
    assert {legacy["nodegroupArn"], debug["nodegroupArn"]} <= fleet.failing(
        "eks.nodegroup_remote_access"
    )
    asg_name = legacy["resources"]["autoScalingGroups"][0]["name"]
    asg = client("autoscaling", ACCOUNTS[0], REGION).describe_auto_scaling_groups(
        AutoScalingGroupNames=[asg_name]
    )["AutoScalingGroups"]
    assert 2 == len(asg[0]["Instances"])


def test_eks_cluster_endpoint_and_version(fleet: FleetManifest, client: ClientFactory) -> None:
    """The legacy cluster runs an unsupported version with a world-open public endpoint."""
    cluster = client("eks", ACCOUNTS[0], REGION).describe_cluster(name="legacy")["cluster"]
    config = cluster["resourcesVpcConfig"]
    assert ("1.27", True, ["0.0.0.0/0"]) == (
        cluster["version"],
        config["endpointPublicAccess"],
        config["publicAccessCidrs"],
    )
    assert {cluster["arn"]} == {
        a for a in fleet.failing("eks.version_unsupported") if f":{ACCOUNTS[0]}:" in a
    }

"""EC2 and Auto Scaling of one demo cell: AMIs, security groups, launch templates, ASGs
(mostly compliant, one legacy), and a few hand-launched pets with the classic sins."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from auditor.demo import aging
from auditor.demo.cell import (
    CLEAN_USER_DATA,
    LEAKY_LT_USER_DATA,
    LEAKY_USER_DATA,
    TERRAFORM_TAGS,
    AmiFacts,
    Cell,
    InstanceFacts,
    b64,
    tag_list,
)
from auditor.demo.manifest import AMI_MAX_AGE_DAYS, ASG_MAX_LIFETIME_DAYS

IMDS_REQUIRED = {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 2}
IMDS_OPTIONAL = {"HttpTokens": "optional", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1}
OPS_KEY = "ops-2019"
# A public key only (its private half was never kept): importing is instant, generating is not.
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKS+r9RjFC8n/8T+G9tGwZVdm2Nedd0pqDBeHb2K1q4a"
WORLD = "0.0.0.0/0"


ALL_GROUPS = ("web", "app", "ssh-corp", "ssh-open", "db-debug")
ALL_AMIS = ("fresh", "old", "deprecated", "gone")


def seed_network(cell: Cell, groups: tuple[str, ...] = ALL_GROUPS) -> None:
    """Default VPC subnets, key pairs and the security groups everything else attaches
    (only `groups`: a group no compute uses would not be collected)."""
    aging.drop_public_images(cell.account, cell.region)
    ec2 = cell.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
    cell.vpc_id = vpc["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [cell.vpc_id]}])
    cell.subnets = sorted(s["SubnetId"] for s in subnets["Subnets"])
    for key in (OPS_KEY, "eks-nodes"):
        ec2.import_key_pair(KeyName=key, PublicKeyMaterial=f"{PUBLIC_KEY} {key}".encode())

    def group(name: str, rules: list[dict[str, Any]], *, open_world: bool) -> None:
        if name not in groups:
            return
        group_id: str = ec2.create_security_group(
            GroupName=name,
            Description=f"{name} (demo)",
            VpcId=cell.vpc_id,
            TagSpecifications=[
                {
                    "ResourceType": "security-group",
                    "Tags": tag_list({"Name": name, **TERRAFORM_TAGS}),
                }
            ],
        )["GroupId"]
        if rules:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=rules)
        cell.security_groups[name] = group_id
        cell.builder.add("ec2.security_group")
        if open_world:
            cell.builder.fail("sg.ssh_open_world", cell.sg_arn(group_id))
        else:
            cell.builder.passes("ec2.security_group", cell.sg_arn(group_id))

    def tcp(port: int, cidr: str = WORLD, to_port: int | None = None) -> dict[str, Any]:
        return {
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": to_port or port,
            "IpRanges": [{"CidrIp": cidr}],
        }

    group("web", [tcp(443), tcp(80)], open_world=False)
    group("app", [tcp(8080, "10.0.0.0/8")], open_world=False)
    group("ssh-corp", [tcp(22, "10.20.0.0/16")], open_world=False)
    group("ssh-open", [tcp(22)], open_world=True)
    # A "temporary" debugging rule on the database pet: every TCP port from any IPv6 address.
    group(
        "db-debug",
        [
            {
                "IpProtocol": "tcp",
                "FromPort": 0,
                "ToPort": 65535,
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            }
        ],
        open_world=True,
    )


def seed_amis(cell: Cell, labels: tuple[str, ...] = ALL_AMIS) -> None:
    """Golden AMIs of several ages; one deprecated; one that will be deregistered."""
    ec2 = cell.client("ec2")
    plan: dict[str, tuple[float, float | None]] = {
        "fresh": (12, None),
        "old": (400, None),
        "deprecated": (200, 20),
        "gone": (60, None),
    }
    for label, (age, deprecated_days_ago) in plan.items():
        if label not in labels:
            continue
        created = cell.ago(age)
        image_id = ec2.register_image(
            Name=f"golden-al2023-{created:%Y%m%d}-{label}", RootDeviceName="/dev/xvda"
        )["ImageId"]
        ec2.create_tags(Resources=[image_id], Tags=tag_list({"Pipeline": "packer", "Label": label}))
        deprecated = cell.ago(deprecated_days_ago) if deprecated_days_ago is not None else None
        aging.set_image_dates(
            cell.account, cell.region, image_id, created=created, deprecated=deprecated
        )
        cell.amis[label] = AmiFacts(image_id, created, deprecated, gone=False)
        if label != "gone":
            cell.builder.add("ec2.image")


def create_launch_template(
    cell: Cell, name: str, versions: list[dict[str, Any]], *, default: int
) -> str:
    """A launch template with the given versions' data; returns its id."""
    ec2 = cell.client("ec2")
    template_id = str(
        ec2.create_launch_template(
            LaunchTemplateName=name,
            LaunchTemplateData=versions[0],
            TagSpecifications=[
                {"ResourceType": "launch-template", "Tags": tag_list(TERRAFORM_TAGS)}
            ],
        )["LaunchTemplate"]["LaunchTemplateId"]
    )
    for data in versions[1:]:
        ec2.create_launch_template_version(LaunchTemplateId=template_id, LaunchTemplateData=data)
    aging.repair_launch_template_user_data(cell.account, cell.region, template_id)
    ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(default))
    cell.builder.add("ec2.launch_template")
    return template_id


def lt_data(
    cell: Cell,
    ami: str,
    groups: list[str],
    *,
    imds: dict[str, Any],
    user_data: str,
    key: str | None = None,
    instance_type: str = "t3.medium",
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ImageId": cell.amis[ami].image_id,
        "InstanceType": instance_type,
        "SecurityGroupIds": [cell.security_groups[g] for g in groups],
        "MetadataOptions": imds,
        "UserData": user_data,
    }
    if key is not None:
        data["KeyName"] = key
    return data


def create_asg(
    cell: Cell,
    name: str,
    *,
    size: int,
    launch_template: dict[str, str] | None = None,
    launch_configuration: str | None = None,
    max_lifetime_days: int | None = None,
    tags: dict[str, str] | None = None,
) -> tuple[str, list[str]]:
    """Create an ASG and return its ARN and the instance ids moto launched for it."""
    asg = cell.client("autoscaling")
    params: dict[str, Any] = {
        "AutoScalingGroupName": name,
        "MinSize": size,
        "MaxSize": size * 2,
        "DesiredCapacity": size,
        # One subnet per group, round robin: a default /20 subnet holds ~4,000 instances.
        "VPCZoneIdentifier": cell.subnets[
            cell.builder.counts["autoscaling.group"] % len(cell.subnets)
        ],
        "Tags": [
            {"Key": k, "Value": v, "PropagateAtLaunch": True}
            for k, v in {**TERRAFORM_TAGS, **(tags or {})}.items()
        ],
    }
    if launch_template is not None:
        params["LaunchTemplate"] = launch_template
    if launch_configuration is not None:
        params["LaunchConfigurationName"] = launch_configuration
    if max_lifetime_days is not None:
        params["MaxInstanceLifetime"] = max_lifetime_days * 86400
    asg.create_auto_scaling_group(**params)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    arn = str(group["AutoScalingGroupARN"])
    aging.set_asg_created_time(cell.account, cell.region, name, cell.ago(200))
    if max_lifetime_days is not None:
        seconds = max_lifetime_days * 86400
        aging.set_asg_max_instance_lifetime(cell.account, cell.region, name, seconds)
    cell.builder.add("autoscaling.group")
    lifetime_ok = max_lifetime_days is not None and max_lifetime_days <= ASG_MAX_LIFETIME_DAYS
    cell.builder.fail_if(not lifetime_ok, "asg.max_instance_lifetime", arn)
    if launch_template is not None:
        mutable = launch_template["Version"] in ("$Latest", "$Default")
        cell.builder.fail_if(mutable, "asg.launch_template_version_mutable", arn)
    cell.builder.fail_if(launch_configuration is not None, "asg.uses_launch_configuration", arn)
    return arn, sorted(i["InstanceId"] for i in group["Instances"])


def age_fleet(
    cell: Cell, ids: list[str], facts: InstanceFacts, imds: dict[str, Any] | None
) -> None:
    """Backdate launched instances, apply their template's IMDS options, record them."""
    if imds is not None:
        aging.set_instance_metadata_options(cell.account, cell.region, ids, imds)
    aging.set_instance_launch_times(cell.account, cell.region, dict.fromkeys(ids, facts.launched))
    for instance_id in ids:
        cell.record_instance(instance_id, facts)


def seed_asgs(cell: Cell) -> None:
    """web (compliant, pinned version), legacy ($Latest, SSH key, secrets, old AMI),
    and on odd cells batch (a launch configuration)."""
    b, fresh, old = cell.builder, cell.amis["fresh"], cell.amis["old"]
    web_v1 = lt_data(
        cell, "old", ["web"], imds=IMDS_OPTIONAL, user_data=b64(CLEAN_USER_DATA), key=OPS_KEY
    )
    web_v2 = lt_data(cell, "fresh", ["web"], imds=IMDS_REQUIRED, user_data=b64(CLEAN_USER_DATA))
    web_lt = create_launch_template(cell, "web", [web_v1, web_v2], default=2)
    b.passes("ec2.launch_template", cell.lt_arn(web_lt))
    web_arn, web_ids = create_asg(
        cell,
        "web",
        size=6 * cell.scale,
        launch_template={"LaunchTemplateId": web_lt, "Version": "2"},
        max_lifetime_days=14,
    )
    b.passes("autoscaling.group", web_arn)
    age_fleet(cell, web_ids, InstanceFacts(fresh, cell.ago(5), imds_required=True), IMDS_REQUIRED)

    legacy_v1 = lt_data(cell, "old", ["app"], imds=IMDS_OPTIONAL, user_data=b64(CLEAN_USER_DATA))
    legacy_v2 = lt_data(
        cell,
        "old",
        ["app", "ssh-corp"],
        imds=IMDS_OPTIONAL,
        user_data=b64(LEAKY_LT_USER_DATA, gzipped=True),
        key=OPS_KEY,
    )
    legacy_lt = create_launch_template(cell, "legacy-app", [legacy_v1, legacy_v2], default=2)
    for rule in ("lt.ssh_keypair", "lt.userdata_secrets", "lt.imdsv2_required"):
        b.fail(rule, cell.lt_arn(legacy_lt))
    legacy_arn, legacy_ids = create_asg(
        cell,
        "legacy-app",
        size=3 * cell.scale,
        launch_template={"LaunchTemplateId": legacy_lt, "Version": "$Latest"},
    )
    b.fail_if(cell.now - old.created > timedelta(days=AMI_MAX_AGE_DAYS), "asg.ami_age", legacy_arn)
    legacy_facts = InstanceFacts(old, cell.ago(120), key_name=OPS_KEY, userdata_secret=True)
    age_fleet(cell, legacy_ids, legacy_facts, IMDS_OPTIONAL)

    if cell.index % 2 == 1:
        cell.client("autoscaling").create_launch_configuration(
            LaunchConfigurationName="batch-2021",
            ImageId=fresh.image_id,
            InstanceType="c5.large",
            SecurityGroups=[cell.security_groups["app"]],
        )
        _, batch_ids = create_asg(
            cell,
            "batch",
            size=2 * cell.scale,
            launch_configuration="batch-2021",
            max_lifetime_days=90,
        )
        age_fleet(cell, batch_ids, InstanceFacts(fresh, cell.ago(10)), None)


def _run_one(cell: Cell, name: str, ami: AmiFacts, groups: list[str], **extra: Any) -> str:
    tags = {"Name": name, "Owner": "ops@example.com"}
    response = cell.client("ec2").run_instances(
        ImageId=ami.image_id,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.small",
        SubnetId=cell.subnets[-1],
        SecurityGroupIds=[cell.security_groups[g] for g in groups],
        TagSpecifications=[{"ResourceType": "instance", "Tags": tag_list(tags)}],
        **extra,
    )
    return str(response["Instances"][0]["InstanceId"])


def seed_pets(cell: Cell, launched_at: datetime | None = None) -> None:
    """Hand-launched instances: a bastion with every classic sin, a reporting box on a
    deprecated AMI, an ETL box whose AMI was deregistered, a database stopped for months."""
    amis = cell.amis
    bastion = _run_one(
        cell, "bastion", amis["old"], ["ssh-open"], KeyName=OPS_KEY, UserData=LEAKY_USER_DATA
    )
    age_fleet(
        cell,
        [bastion],
        InstanceFacts(
            amis["old"],
            launched_at or cell.ago(210),
            key_name=OPS_KEY,
            userdata_secret=True,
            managed=False,
        ),
        IMDS_OPTIONAL,
    )
    reporting = _run_one(
        cell, "reporting", amis["deprecated"], ["app"], MetadataOptions=IMDS_REQUIRED
    )
    age_fleet(
        cell,
        [reporting],
        InstanceFacts(amis["deprecated"], cell.ago(20), imds_required=True, managed=False),
        None,
    )

    etl = _run_one(cell, "nightly-etl", amis["gone"], ["app"], MetadataOptions=IMDS_REQUIRED)
    cell.client("ec2").deregister_image(ImageId=amis["gone"].image_id)
    amis["gone"] = AmiFacts(amis["gone"].image_id, amis["gone"].created, gone=True)
    age_fleet(
        cell,
        [etl],
        InstanceFacts(amis["gone"], cell.ago(15), imds_required=True, managed=False),
        None,
    )

    db = _run_one(
        cell,
        "legacy-db",
        amis["fresh"],
        ["db-debug"],
        MetadataOptions=IMDS_REQUIRED,
        UserData=CLEAN_USER_DATA,
    )
    cell.client("ec2").stop_instances(InstanceIds=[db])
    stopped = cell.ago(75)
    aging.set_instance_stopped_since(cell.account, cell.region, db, stopped)
    age_fleet(
        cell,
        [db],
        InstanceFacts(
            amis["fresh"], cell.ago(180), imds_required=True, managed=False, stopped_since=stopped
        ),
        None,
    )


def seed_ec2(cell: Cell) -> None:
    seed_network(cell)
    seed_amis(cell)
    seed_asgs(cell)
    seed_pets(cell)

"""EKS of one demo cell: a current private cluster with a clean node group and a debug node
group (SSH only from a bastion group), and a legacy public cluster whose node group opens
SSH to the world on a stale AMI. Each node group gets the launch template, Auto Scaling
group and instances AWS would create behind it (moto creates none of them)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from auditor.demo import aging
from auditor.demo.cell import CLEAN_USER_DATA, TERRAFORM_TAGS, Cell, InstanceFacts, b64
from auditor.demo.manifest import AMI_MAX_AGE_DAYS, EKS_OLDEST_SUPPORTED, NODEGROUP_AMI_MAX_AGE_DAYS
from auditor.demo.seed_ec2 import (
    IMDS_OPTIONAL,
    IMDS_REQUIRED,
    WORLD,
    create_asg,
    create_launch_template,
)

ROLE = "arn:aws:iam::{account}:role/{name}"


@dataclass(frozen=True, slots=True)
class NodeGroupPlan:
    name: str
    ami: str  # label in Cell.amis
    release_age_days: int
    nodes: int
    node_age_days: int
    ssh: str  # "none", "world" (no source groups) or "bastion" (source security group)
    imds_required: bool


def _version_tuple(version: str) -> tuple[int, int]:
    major, minor = re.match(r"(\d+)\.(\d+)", version).groups()  # type: ignore[union-attr]
    return int(major), int(minor)


def _cluster(cell: Cell, name: str, version: str, public_cidrs: list[str] | None) -> str:
    eks, ec2 = cell.client("eks"), cell.client("ec2")
    sg: str = ec2.create_security_group(
        GroupName=f"eks-cluster-sg-{name}", Description=f"EKS {name} nodes", VpcId=cell.vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg, IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": sg}]}]
    )
    cell.security_groups[f"eks-{name}"] = sg
    cell.builder.add("ec2.security_group")
    vpc_config: dict[str, Any] = {
        "subnetIds": cell.subnets[:2],
        "securityGroupIds": [sg],
        "endpointPrivateAccess": True,
        "endpointPublicAccess": public_cidrs is not None,
    }
    if public_cidrs is not None:
        vpc_config["publicAccessCidrs"] = public_cidrs
    cluster = eks.create_cluster(
        name=name,
        version=version,
        roleArn=ROLE.format(account=cell.account, name="eks-cluster"),
        resourcesVpcConfig=vpc_config,
        tags=TERRAFORM_TAGS,
    )["cluster"]
    aging.set_eks_cluster_created(cell.account, cell.region, name, cell.ago(500))
    arn = str(cluster["arn"])
    b = cell.builder
    b.add("eks.cluster")
    b.fail_if(_version_tuple(version) < EKS_OLDEST_SUPPORTED, "eks.version_unsupported", arn)
    b.fail_if(public_cidrs is not None, "eks.endpoint_public", arn)
    if public_cidrs is None and _version_tuple(version) >= EKS_OLDEST_SUPPORTED:
        b.passes("eks.cluster", arn)
    return sg


def _ssh_group(
    cell: Cell, cluster: str, plan: NodeGroupPlan
) -> tuple[str | None, dict[str, Any] | None]:
    """The remote-access security group EKS creates, and the node group's remoteAccess."""
    if plan.ssh == "none":
        return None, None
    ec2 = cell.client("ec2")
    sg = ec2.create_security_group(
        GroupName=f"eks-remoteAccess-{cluster}-{plan.name}",
        Description="EKS remote access",
        VpcId=cell.vpc_id,
    )["GroupId"]
    cell.builder.add("ec2.security_group")
    if plan.ssh == "world":
        source: dict[str, Any] = {"IpRanges": [{"CidrIp": WORLD}]}
        cell.builder.fail("sg.ssh_open_world", cell.sg_arn(sg))
        access: dict[str, Any] = {"ec2SshKey": "eks-nodes"}
    else:
        bastion_sg = cell.security_groups["ssh-corp"]
        source = {"UserIdGroupPairs": [{"GroupId": bastion_sg}]}
        access = {"ec2SshKey": "eks-nodes", "sourceSecurityGroups": [bastion_sg]}
    ec2.authorize_security_group_ingress(
        GroupId=sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, **source}]
    )
    return sg, access


def _release(version: str, built: datetime) -> str:
    return f"{version}.9-{built:%Y%m%d}"


def _nodegroup(
    cell: Cell, cluster: str, version: str, cluster_sg: str, plan: NodeGroupPlan
) -> None:
    eks, b = cell.client("eks"), cell.builder
    ssh_sg, access = _ssh_group(cell, cluster, plan)
    groups = [cluster_sg] + ([ssh_sg] if ssh_sg else [])
    imds = IMDS_REQUIRED if plan.imds_required else IMDS_OPTIONAL
    data: dict[str, Any] = {
        "ImageId": cell.amis[plan.ami].image_id,
        "InstanceType": "m6i.large",
        "SecurityGroupIds": groups,
        "MetadataOptions": imds,
        "UserData": b64(CLEAN_USER_DATA),
    }
    if access is not None:
        data["KeyName"] = access["ec2SshKey"]
    lt_name = f"eks-{cluster}-{plan.name}"
    lt_id = create_launch_template(cell, lt_name, [data], default=1)
    lt_arn = cell.lt_arn(lt_id)
    b.fail_if(access is not None, "lt.ssh_keypair", lt_arn)
    b.fail_if(not plan.imds_required, "lt.imdsv2_required", lt_arn)

    params: dict[str, Any] = {
        "clusterName": cluster,
        "nodegroupName": plan.name,
        "nodeRole": ROLE.format(account=cell.account, name="eks-node"),
        "subnets": cell.subnets[:2],
        "scalingConfig": {
            "minSize": plan.nodes,
            "maxSize": plan.nodes * 2,
            "desiredSize": plan.nodes,
        },
        "version": version,
        "releaseVersion": _release(version, cell.ago(plan.release_age_days)),
        "amiType": "AL2023_x86_64_STANDARD",
        "tags": TERRAFORM_TAGS,
    }
    if access is not None:
        params["remoteAccess"] = access
    else:
        params["launchTemplate"] = {"id": lt_id, "version": "1"}
    nodegroup = eks.create_nodegroup(**params)["nodegroup"]
    asg_name = nodegroup["resources"]["autoScalingGroups"][0]["name"]
    aging.set_nodegroup_state(
        cell.account,
        cell.region,
        cluster,
        plan.name,
        created=cell.ago(plan.node_age_days + 5),
        remote_access=access,
        remote_access_sg=ssh_sg,
        asg_name=asg_name,
    )
    arn = str(nodegroup["nodegroupArn"])
    b.add("eks.nodegroup")
    b.fail_if(access is not None, "eks.nodegroup_remote_access", arn)
    stale = plan.release_age_days > NODEGROUP_AMI_MAX_AGE_DAYS
    b.fail_if(stale, "eks.nodegroup_ami_stale", arn)
    if access is None and not stale:
        b.passes("eks.nodegroup", arn)

    asg_arn, ids = create_asg(
        cell,
        asg_name,
        size=plan.nodes * cell.scale,
        launch_template={"LaunchTemplateId": lt_id, "Version": "1"},
        tags={
            "eks:cluster-name": cluster,
            "eks:nodegroup-name": plan.name,
            f"kubernetes.io/cluster/{cluster}": "owned",
        },
    )
    ami = cell.amis[plan.ami]
    b.fail_if(cell.now - ami.created > timedelta(days=AMI_MAX_AGE_DAYS), "asg.ami_age", asg_arn)
    facts = InstanceFacts(
        ami,
        cell.ago(plan.node_age_days),
        key_name=data.get("KeyName"),
        imds_required=plan.imds_required,
    )
    aging.set_instance_metadata_options(cell.account, cell.region, ids, imds)
    aging.set_instance_launch_times(cell.account, cell.region, dict.fromkeys(ids, facts.launched))
    for instance_id in ids:
        cell.record_instance(instance_id, facts)


def seed_eks(cell: Cell) -> None:
    """Every cell has the current cluster; even cells also run the legacy one (open to the
    world on cell 0, to an office range elsewhere)."""
    platform_sg = _cluster(cell, "platform", "1.31", None)
    _nodegroup(
        cell,
        "platform",
        "1.31",
        platform_sg,
        NodeGroupPlan("general", "fresh", 14, 3, 6, "none", True),
    )
    _nodegroup(
        cell,
        "platform",
        "1.31",
        platform_sg,
        NodeGroupPlan("debug", "fresh", 14, 1, 6, "bastion", True),
    )
    if cell.index % 2 == 0:
        cidrs = [WORLD] if cell.index == 0 else ["203.0.113.0/24"]
        legacy_sg = _cluster(cell, "legacy", "1.27", cidrs)
        _nodegroup(
            cell,
            "legacy",
            "1.27",
            legacy_sg,
            NodeGroupPlan("workers", "old", 150, 2, 150, "world", False),
        )

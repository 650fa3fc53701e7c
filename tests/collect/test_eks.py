"""EKS collector against moto: clusters, node groups, pagination, denied operations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import botocore.exceptions
import pytest

from auditor.aws import ApiCallCounter
from auditor.collect import eks
from auditor.collect.base import UnitContext
from auditor.model import Kind, Resource
from tests.collect.conftest import ACCOUNT, REGION

ROLE = f"arn:aws:iam::{ACCOUNT}:role/eks"
VPC = {"subnetIds": ["subnet-1"], "endpointPublicAccess": True, "endpointPrivateAccess": False}


def _seed(clusters: int = 1, nodegroups: int = 1) -> None:
    """Clusters named c0.., each with node groups ng0..; moto creates no real instances."""
    client: Any = boto3.client("eks", region_name=REGION)
    for c in range(clusters):
        client.create_cluster(
            name=f"c{c}",
            version="1.29",
            roleArn=ROLE,
            resourcesVpcConfig=VPC,
            tags={"env": "prod"},
        )
        for n in range(nodegroups):
            client.create_nodegroup(
                clusterName=f"c{c}",
                nodegroupName=f"ng{n}",
                nodeRole=ROLE,
                subnets=["subnet-1"],
                amiType="AL2_x86_64",
                capacityType="ON_DEMAND",
                instanceTypes=["m5.large"],
                scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2},
                remoteAccess={"ec2SshKey": "ops-key", "sourceSecurityGroups": ["sg-1"]},
                tags={"team": "platform"},
            )


def _by_kind(resources: tuple[Resource, ...], kind: Kind) -> list[Resource]:
    return sorted((r for r in resources if r.kind is kind), key=lambda r: r.id)


def test_collects_clusters_and_nodegroups_with_documented_attributes(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """Cluster version and endpoint access, node group remote access, AMI type, scaling and
    the ASGs behind it come back as docs/resources.md says, with tags in Resource.tags."""
    _seed()
    result = eks.collect_eks(make_ctx())

    assert result.gaps == ()
    (cluster,) = _by_kind(result.resources, Kind.EKS_CLUSTER)
    assert (cluster.id, dict(cluster.tags)) == ("c0", {"env": "prod"})
    assert cluster.arn == cluster.attributes["arn"]
    assert set(cluster.attributes) <= {
        "name",
        "arn",
        "version",
        "status",
        "platformVersion",
        "createdAt",
        "resourcesVpcConfig",
    }
    assert {"name", "arn", "version", "status", "createdAt", "resourcesVpcConfig"} <= set(
        cluster.attributes
    )
    assert cluster.attributes["version"] == "1.29"
    assert str(cluster.attributes["createdAt"]).endswith("+00:00")
    vpc = cluster.attributes["resourcesVpcConfig"]
    assert (vpc["endpointPublicAccess"], vpc["endpointPrivateAccess"]) == (True, False)
    assert set(vpc) <= {"endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs"}

    (nodegroup,) = _by_kind(result.resources, Kind.EKS_NODEGROUP)
    assert (nodegroup.id, dict(nodegroup.tags)) == ("c0/ng0", {"team": "platform"})
    attrs = nodegroup.attributes
    assert nodegroup.arn == attrs["nodegroupArn"]
    assert (attrs["nodegroupName"], attrs["clusterName"], attrs["amiType"]) == (
        "ng0",
        "c0",
        "AL2_x86_64",
    )
    assert attrs["remoteAccess"] == {"ec2SshKey": "ops-key", "sourceSecurityGroups": ["sg-1"]}
    assert attrs["scalingConfig"] == {"minSize": 1, "maxSize": 3, "desiredSize": 2}
    assert attrs["instanceTypes"] == ["m5.large"]
    assert attrs["capacityType"] == "ON_DEMAND"
    assert str(attrs["createdAt"]).endswith("+00:00")
    assert set(attrs["resources"]) <= {"autoScalingGroups", "remoteAccessSecurityGroup"}
    assert all(set(a) == {"name"} for a in attrs["resources"]["autoScalingGroups"])
    assert set(attrs) <= {
        "nodegroupName",
        "nodegroupArn",
        "clusterName",
        "version",
        "releaseVersion",
        "amiType",
        "status",
        "createdAt",
        "modifiedAt",
        "capacityType",
        "instanceTypes",
        "remoteAccess",
        "launchTemplate",
        "scalingConfig",
        "resources",
    }


def test_pagination_across_pages(
    make_ctx: Callable[..., UnitContext],
    counter: ApiCallCounter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With 2 items a page, 3 clusters of 3 node groups are all collected over 2 pages of
    clusters and 2 pages of node groups per cluster; describes are one per item."""
    _seed(clusters=3, nodegroups=3)
    monkeypatch.setattr(eks, "PAGE_SIZE", 2)

    result = eks.collect_eks(make_ctx())

    assert [r.id for r in _by_kind(result.resources, Kind.EKS_CLUSTER)] == [
        "c0",
        "c1",
        "c2",
    ]
    assert len(_by_kind(result.resources, Kind.EKS_NODEGROUP)) == 9
    assert {k: v for k, v in counter.calls.items() if k.startswith("eks:")} == {
        "eks:ListClusters": 2,
        "eks:DescribeCluster": 3,
        "eks:ListNodegroups": 6,
        "eks:DescribeNodegroup": 9,
    }


def _deny(client: Any, operation: str) -> list[str]:
    attempts: list[str] = []

    def refuse(**_: Any) -> None:
        attempts.append(operation)
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, operation
        )

    client.meta.events.register(f"before-call.eks.{operation}", refuse)
    return attempts


def test_denied_nodegroup_listing_is_a_gap_while_clusters_are_collected(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """ListNodegroups denied: clusters are still collected, one gap covers node groups, and
    the refused call is not repeated for every cluster."""
    _seed(clusters=3)
    ctx = make_ctx()
    attempts = _deny(ctx.client("eks"), "ListNodegroups")

    result = eks.collect_eks(ctx)

    assert len(_by_kind(result.resources, Kind.EKS_CLUSTER)) == 3
    assert _by_kind(result.resources, Kind.EKS_NODEGROUP) == []
    assert [(g.operation, g.kinds, g.error_code) for g in result.gaps] == [
        ("eks:ListNodegroups", (Kind.EKS_NODEGROUP,), "AccessDeniedException")
    ]
    assert attempts == ["ListNodegroups"]


def test_denied_cluster_listing_is_a_gap_for_both_kinds(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """Without the cluster list neither clusters nor node groups can be seen."""
    _seed()
    ctx = make_ctx()
    _deny(ctx.client("eks"), "ListClusters")

    result = eks.collect_eks(ctx)

    assert result.resources == ()
    (gap,) = result.gaps
    assert (gap.operation, gap.kinds, gap.account, gap.region) == (
        "eks:ListClusters",
        (Kind.EKS_CLUSTER, Kind.EKS_NODEGROUP),
        ACCOUNT,
        REGION,
    )


def test_cluster_deleted_between_list_and_describe_is_not_a_gap(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """A cluster that vanished after listing is gone, not unseen: no gap, nothing invented."""
    _seed(clusters=2, nodegroups=0)
    ctx = make_ctx()
    client = ctx.client("eks")

    def vanish(params: dict[str, Any], **_: Any) -> None:
        if params.get("name") == "c1":
            boto3.client("eks", region_name=REGION).delete_cluster(name="c1")

    client.meta.events.register("provide-client-params.eks.DescribeCluster", vanish)

    result = eks.collect_eks(ctx)

    assert [r.id for r in result.resources] == ["c0"]
    assert result.gaps == ()

"""EKS collector: clusters and managed node groups.

Calls per (account, region): ListClusters pages, one DescribeCluster per cluster, per
cluster ListNodegroups pages and one DescribeNodegroup per node group (EKS has no batch
describe). A cluster or node group deleted between list and describe is simply gone; any
other failure is a CollectionGap for the kinds it leaves incomplete.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from auditor.collect.base import (
    CollectorSpec,
    CollectResult,
    UnitContext,
    UnitState,
    paginate,
    pick,
)
from auditor.model import JSON, Kind, Service

PAGE_SIZE = 100  # ListClusters / ListNodegroups maxResults (the API maximum)

_CLUSTER_KEYS = ("name", "arn", "version", "status", "platformVersion", "createdAt")
_VPC_KEYS = ("endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs")
_NODEGROUP_KEYS = (
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
)
_BOTH = (Kind.EKS_CLUSTER, Kind.EKS_NODEGROUP)
_NOT_FOUND = frozenset({"ResourceNotFoundException"})


def _cluster_attributes(cluster: Mapping[str, Any]) -> dict[str, JSON]:
    out = pick(cluster, _CLUSTER_KEYS)
    out["resourcesVpcConfig"] = pick(cluster.get("resourcesVpcConfig") or {}, _VPC_KEYS)
    return out


def _nodegroup_attributes(nodegroup: Mapping[str, Any]) -> dict[str, JSON]:
    out = pick(nodegroup, _NODEGROUP_KEYS)
    if nodegroup.get("remoteAccess") is not None:
        out["remoteAccess"] = pick(nodegroup["remoteAccess"], ("ec2SshKey", "sourceSecurityGroups"))
    if nodegroup.get("launchTemplate") is not None:
        out["launchTemplate"] = pick(nodegroup["launchTemplate"], ("id", "name", "version"))
    out["scalingConfig"] = pick(
        nodegroup.get("scalingConfig") or {}, ("minSize", "maxSize", "desiredSize")
    )
    resources = nodegroup.get("resources") or {}
    out["resources"] = {
        "autoScalingGroups": [
            pick(asg, ("name",)) for asg in resources.get("autoScalingGroups") or []
        ],
        **pick(resources, ("remoteAccessSecurityGroup",)),
    }
    return out


def _collect_nodegroups(unit: UnitState, cluster_name: str) -> None:
    client = unit.client
    names = unit.call(
        "eks:ListNodegroups",
        (Kind.EKS_NODEGROUP,),
        lambda: list(
            paginate(
                client,
                "list_nodegroups",
                "nodegroups",
                clusterName=cluster_name,
                PaginationConfig={"PageSize": PAGE_SIZE},
            )
        ),
    )
    for name in names or []:
        response = unit.call(
            "eks:DescribeNodegroup",
            (Kind.EKS_NODEGROUP,),
            partial(client.describe_nodegroup, clusterName=cluster_name, nodegroupName=name),
        )
        if response is None:
            continue
        nodegroup = response["nodegroup"]
        unit.add(
            Kind.EKS_NODEGROUP,
            str(nodegroup["nodegroupArn"]),
            f"{cluster_name}/{nodegroup['nodegroupName']}",
            nodegroup.get("tags"),
            _nodegroup_attributes(nodegroup),
        )


def collect_eks(ctx: UnitContext) -> CollectResult:
    """Every EKS cluster and managed node group of one (account, region)."""
    unit = UnitState(ctx, Service.EKS, not_found=_NOT_FOUND)
    client = unit.client
    names = unit.call(
        "eks:ListClusters",
        _BOTH,
        lambda: list(
            paginate(client, "list_clusters", "clusters", PaginationConfig={"PageSize": PAGE_SIZE})
        ),
    )
    for name in names or []:
        response = unit.call(
            "eks:DescribeCluster",
            (Kind.EKS_CLUSTER,),
            partial(client.describe_cluster, name=name),
        )
        if unit.vanished:
            continue
        if response is not None:
            cluster = response["cluster"]
            unit.add(
                Kind.EKS_CLUSTER,
                str(cluster["arn"]),
                str(cluster["name"]),
                cluster.get("tags"),
                _cluster_attributes(cluster),
            )
        _collect_nodegroups(unit, str(name))
    return CollectResult(tuple(unit.resources), tuple(unit.gaps))


SPEC = CollectorSpec(
    collect_eks,
    kinds=(Kind.EKS_CLUSTER, Kind.EKS_NODEGROUP),
    iam_actions=frozenset(
        {
            "eks:DescribeCluster",
            "eks:DescribeNodegroup",
            "eks:ListClusters",
            "eks:ListNodegroups",
        }
    ),
)

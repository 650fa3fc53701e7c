"""EKS collector: clusters and managed node groups.

Calls per (account, region): ListClusters pages, one DescribeCluster per cluster, per
cluster ListNodegroups pages and one DescribeNodegroup per node group (EKS has no batch
describe). A cluster or node group deleted between list and describe is simply gone; any
other failure is a CollectionGap for the kinds it leaves incomplete.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from auditor.aws import error_code
from auditor.collect.base import (
    AWS_ERRORS,
    CollectResult,
    UnitContext,
    gap,
    paginate,
    pick,
    tag_map,
)
from auditor.model import JSON, CollectionGap, Kind, Resource, Service

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
_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnrecognizedClientException"})

T = TypeVar("T")


class _Unit:
    def __init__(self, ctx: UnitContext) -> None:
        self.ctx = ctx
        self.client = ctx.client("eks")
        self.now: datetime = ctx.clock.now()
        self.resources: list[Resource] = []
        self.gaps: list[CollectionGap] = []
        self._denied: set[str] = set()
        self.vanished = False  # the last call's resource no longer exists

    def call(self, operation: str, kinds: tuple[Kind, ...], fn: Callable[[], T]) -> T | None:
        """fn(), or None with a gap recorded; a denied operation is not asked again."""
        self.vanished = False
        if operation in self._denied:
            return None
        try:
            return fn()
        except AWS_ERRORS as exc:
            code = error_code(exc)
            if code in _NOT_FOUND:
                self.vanished = True
                return None
            if code in _DENIED:
                self._denied.add(operation)
            self.gaps.append(gap(self.ctx, Service.EKS, kinds, operation, exc))
            return None

    def add(self, kind: Kind, arn: str, rid: str, tags: Any, attributes: dict[str, JSON]) -> None:
        self.resources.append(
            Resource(
                kind=kind,
                arn=arn,
                id=rid,
                account=self.ctx.account,
                region=self.ctx.region,
                tags=tag_map(tags),
                attributes=attributes,
                observed_at=self.now,
            )
        )


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


def _collect_nodegroups(unit: _Unit, cluster_name: str) -> None:
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
    unit = _Unit(ctx)
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

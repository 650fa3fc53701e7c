"""Checks of rules `sg.*`: security groups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.checks.result import PASS, CheckResult, fail, unreadable
from auditor.checks.spec import CheckSpec
from auditor.model import JSON, Clock, Resource, SnapshotView

_WORLD_V4 = "0.0.0.0/0"


_WORLD_V6 = "::/0"


_ALL_PROTOCOLS = ("-1", "all")


_TCP = ("tcp", "6")


def _covers(permission: Mapping[str, Any], port: int) -> bool:
    protocol = str(permission.get("IpProtocol", ""))
    if protocol in _ALL_PROTOCOLS:
        return True
    if protocol not in _TCP:
        return False
    low = permission.get("FromPort")
    high = permission.get("ToPort")
    if not isinstance(low, int) or not isinstance(high, int) or low < 0:
        return True  # no range on tcp means every port
    return low <= port <= high


def sg_ssh_open_world(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    if (blocked := unreadable(resource, "IpPermissions", "AttachedTo")) is not None:
        return blocked
    if not resource.attributes.get("AttachedTo"):
        return PASS
    ports: list[int] = [int(p) for p in params["ports"]]
    open_rules: list[dict[str, JSON]] = []
    for permission in resource.attributes.get("IpPermissions") or ():
        if not isinstance(permission, dict | Mapping):
            continue
        v4 = permission.get("IpRanges") or ()
        v6 = permission.get("Ipv6Ranges") or ()
        cidrs = [r.get("CidrIp") for r in v4 if isinstance(r, dict | Mapping)]
        cidrs += [r.get("CidrIpv6") for r in v6 if isinstance(r, dict | Mapping)]
        world = [c for c in cidrs if c in (_WORLD_V4, _WORLD_V6)]
        if not world:
            continue
        exposed = [p for p in ports if _covers(permission, p)]
        if exposed:
            open_rules.append(
                {
                    "IpProtocol": permission.get("IpProtocol"),
                    "FromPort": permission.get("FromPort"),
                    "ToPort": permission.get("ToPort"),
                    "cidrs": world,
                    "ports": exposed,
                }
            )
    if not open_rules:
        return PASS
    ports_open = sorted({p for r in open_rules for p in r["ports"]})
    return fail(
        f"port(s) {', '.join(map(str, ports_open))} open to the internet on a group "
        "attached to compute",
        {"open": open_rules, "AttachedTo": resource.attributes.get("AttachedTo")},
    )


CHECKS: Mapping[str, CheckSpec] = {
    "sg_ssh_open_world": CheckSpec(sg_ssh_open_world),
}

"""How a declared Terraform value and a live attribute are brought to one form to compare.

The `normalize` param of `iac.changed` names one of these per compared attribute; the set
is closed (a pack naming another is rejected when rules load).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from auditor.checks.declared import family_revision
from auditor.checks.fields import comparable, path_problem
from auditor.model import JSON

_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1", "-1": "-1"}


def _protocol(value: Any) -> str:
    text = str(value).lower()
    return _PROTOCOLS.get(text, text)


def _rule_key(protocol: str, low: Any, high: Any, source: str) -> str:
    if protocol == "-1":
        return f"-1:{source}"
    return f"{protocol}:{low}-{high}:{source}"


def _tf_rules(value: Any, own_id: str) -> list[str]:
    out: set[str] = set()
    for rule in value if isinstance(value, list) else []:
        if not isinstance(rule, Mapping):
            continue
        proto = _protocol(rule.get("protocol"))
        low, high = rule.get("from_port"), rule.get("to_port")
        sources = [*(rule.get("cidr_blocks") or []), *(rule.get("ipv6_cidr_blocks") or [])]
        sources += [own_id if g == own_id else str(g) for g in rule.get("security_groups") or []]
        if rule.get("self"):
            sources.append(own_id)
        out.update(_rule_key(proto, low, high, str(s)) for s in sources)
    return sorted(out)


def _live_rules(value: Any, own_id: str) -> list[str]:
    out: set[str] = set()
    for perm in value if isinstance(value, list) else []:
        if not isinstance(perm, Mapping):
            continue
        proto = _protocol(perm.get("IpProtocol"))
        low, high = perm.get("FromPort"), perm.get("ToPort")
        sources = [r.get("CidrIp") for r in perm.get("IpRanges") or []]
        sources += [r.get("CidrIpv6") for r in perm.get("Ipv6Ranges") or []]
        sources += [p.get("GroupId") for p in perm.get("UserIdGroupPairs") or []]
        out.update(_rule_key(proto, low, high, str(s)) for s in sources if s)
    return sorted(out)


def _zero_is_unset(value: Any, _: str) -> JSON:
    return None if value in (0, "", None, [], {}) else value


def _string(value: Any, _: str) -> JSON:
    return None if value is None else str(value)


def _bool(value: Any, _: str) -> JSON:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


# (declared side, live side); most normalizers treat both sides alike
Normalizer = tuple[Callable[[Any, str], JSON], Callable[[Any, str], JSON]]


def _same(fn: Callable[[Any, str], JSON]) -> Normalizer:
    return fn, fn


NORMALIZERS: Mapping[str, Normalizer] = {
    "family_revision": _same(lambda v, _: None if v is None else family_revision(v)),
    "zero_is_unset": _same(_zero_is_unset),
    "string": _same(_string),
    "bool": _same(_bool),
    "lower": _same(lambda v, _: None if v is None else str(v).lower()),
    "sg_rules": (_tf_rules, _live_rules),
}


def compare_values(name: str | None, declared: Any, live: Any, own_id: str) -> tuple[JSON, JSON]:
    """Both values in the compared form (lists of scalars as sets; `None` for absent)."""
    if name is None:
        return comparable(declared), comparable(live)
    left, right = NORMALIZERS[name]
    return comparable(left(declared, own_id)), comparable(right(live, own_id))


def validate_compare(params: Mapping[str, Any]) -> list[str]:
    """`compare: {tf_type: {tf_path: live_path}}`, `normalize: {tf_type: {tf_path: name}}`."""
    problems: list[str] = []
    compare = params.get("compare") or {}
    for tf_type, spec in compare.items():
        if not isinstance(spec, Mapping):
            problems.append(f"compare.{tf_type}: expected a mapping of tf path to live path")
            continue
        for tf_path, live_path in spec.items():
            for side, path in (("terraform", tf_path), ("live", live_path)):
                why = path_problem(path)
                if why:
                    problems.append(f"compare.{tf_type}.{tf_path} ({side}): {why}")
    normalize = params.get("normalize") or {}
    for tf_type, spec in normalize.items():
        if not isinstance(spec, Mapping):
            problems.append(f"normalize.{tf_type}: expected a mapping of tf path to normalizer")
            continue
        for tf_path, name in spec.items():
            if name not in NORMALIZERS:
                problems.append(
                    f"normalize.{tf_type}.{tf_path}: unknown normalizer {name!r} "
                    f"(valid: {', '.join(sorted(NORMALIZERS))})"
                )
            if tf_path not in (compare.get(tf_type) or {}):
                problems.append(f"normalize.{tf_type}.{tf_path}: not a compared attribute")
    return problems

"""Terraform state (format version 4) -> declared resources, as `iac.resource` values.

What a state declares is turned into Resources of kind `iac.resource`, so the rule engine
compares declared with live without any I/O (rules `iac.unmanaged`, `iac.missing`,
`iac.changed`). Only the attributes the `iac.changed` rule compares are kept (its `compare`
parameter, data in the rule pack): state files hold secrets (user data, container
definitions, passwords) and none of that may reach the store.

A malformed local state is bad input (exit 2, file:line and field named). An S3 object that
cannot be read is a CollectionGap (coverage incomplete, rules that need it are unknown).
"""

from __future__ import annotations

import fnmatch
import glob
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jmespath

from auditor.errors import BadInputError, one_line
from auditor.model import JSON, CollectionGap, Kind, Resource, Service, canonical_json
from auditor.yamlsafe import read_capped

SUPPORTED_VERSION = 4

# Terraform resource type -> the live kind it declares
TF_KINDS: Mapping[str, Kind] = {
    "aws_instance": Kind.EC2_INSTANCE,
    "aws_launch_template": Kind.EC2_LAUNCH_TEMPLATE,
    "aws_autoscaling_group": Kind.ASG,
    "aws_security_group": Kind.EC2_SECURITY_GROUP,
    "aws_ecs_cluster": Kind.ECS_CLUSTER,
    "aws_ecs_service": Kind.ECS_SERVICE,
    "aws_ecs_task_definition": Kind.ECS_TASK_DEFINITION,
    "aws_eks_cluster": Kind.EKS_CLUSTER,
    "aws_eks_node_group": Kind.EKS_NODEGROUP,
    "aws_ecr_repository": Kind.ECR_REPOSITORY,
}

# Compare spec: {tf_type: {tf_jmespath: live_jmespath}} (from the iac.changed rule's params)
CompareSpec = Mapping[str, Mapping[str, str]]


class StateError(BadInputError):
    """A Terraform state file is malformed or of an unsupported version (one line)."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


@dataclass(frozen=True, slots=True)
class StateLoad:
    resources: tuple[Resource, ...]
    gaps: tuple[CollectionGap, ...]
    sources: tuple[str, ...]


def _line_of(text: str, needle: str, then: str | None = None) -> int | None:
    """Line of `needle` (or of the first `then` after it): JSON errors point at the field."""
    pos = text.find(needle)
    if pos >= 0 and then is not None:
        after = text.find(then, pos)
        pos = after if after >= 0 else pos
    return text.count("\n", 0, pos) + 1 if pos >= 0 else None


def _where(source: str, text: str, needle: str | None, then: str | None = None) -> str:
    line = _line_of(text, needle, then) if needle else None
    return f"{source}:{line}" if line else source


def _arn_parts(arn: str) -> tuple[str, str]:
    """(account, region) from an ARN; '*' when the ARN does not say."""
    parts = arn.split(":")
    if len(parts) >= 6 and parts[0] == "arn":
        return parts[4] or "*", parts[3] or "*"
    return "*", "*"


def _identity(tf_type: str, attrs: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """(id as auditor names the live resource, ARN if declared, name)."""
    arn = attrs.get("arn") or None
    name = attrs.get("name") or attrs.get("node_group_name") or None
    raw_id = str(attrs.get("id") or "")
    if tf_type == "aws_ecs_service":
        arn = arn or (raw_id if raw_id.startswith("arn:") else None)
        cluster = str(attrs.get("cluster") or "").rsplit("/", 1)[-1]
        return f"{cluster}/{name}" if cluster and name else raw_id, arn, name
    if tf_type == "aws_ecs_cluster":
        arn = arn or (raw_id if raw_id.startswith("arn:") else None)
        return str(name or raw_id), arn, name
    if tf_type == "aws_ecs_task_definition":
        family, revision = attrs.get("family"), attrs.get("revision")
        return (f"{family}:{revision}" if family and revision else raw_id), arn, family
    if tf_type == "aws_eks_node_group":
        ng_cluster = attrs.get("cluster_name")
        return (
            (f"{ng_cluster}/{name}" if ng_cluster and name else raw_id.replace(":", "/")),
            arn,
            name,
        )
    if tf_type in ("aws_autoscaling_group", "aws_eks_cluster", "aws_ecr_repository"):
        return str(name or raw_id), arn, name
    return raw_id, arn, name


MAX_STATE_BYTES = 256 * 1024 * 1024
MAX_INT_DIGITS = 64
MAX_DECLARED_DEPTH = 32


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _load_json(text: str, source: str) -> Any:
    """json.loads that refuses what Terraform never writes and JSON does not allow: NaN and
    Infinity, numbers that overflow, absurdly long integers; and nesting past the stack."""
    try:
        return json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise StateError(f"{source}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except ValueError as exc:
        raise StateError(f"{source}: not a valid Terraform state: {exc}") from None
    except RecursionError:
        raise StateError(f"{source}: not a valid Terraform state: nested too deeply") from None


def decode_state(data: bytes, source: str) -> str:
    """UTF-8 text of a state file (Terraform writes UTF-8); anything else names the line."""
    if len(data) > MAX_STATE_BYTES:
        raise StateError(f"{source}: Terraform state is larger than {MAX_STATE_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise StateError(f"{source}:{line}: not valid UTF-8 (Terraform writes UTF-8)") from None


def _depth(value: Any, limit: int) -> bool:
    """True when `value` nests no deeper than `limit` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, level = stack.pop()
        if level > limit:
            return False
        if isinstance(current, dict):
            stack.extend((v, level + 1) for v in current.values())
        elif isinstance(current, list):
            stack.extend((v, level + 1) for v in current)
    return True


def parse_state(
    text: str, source: str, compare: CompareSpec, observed_at: datetime
) -> tuple[Resource, ...]:
    """Parse one state file's text. Raises StateError naming file, line and field."""
    doc = _load_json(text, source)
    if not isinstance(doc, dict):
        raise StateError(f"{source}:1: a Terraform state must be a JSON object")
    version = doc.get("version")
    if version != SUPPORTED_VERSION:
        where = _where(source, text, '"version"')
        raise StateError(
            f"{where}: version: unsupported state format {version!r} (expected {SUPPORTED_VERSION})"
        )
    resources = doc.get("resources", [])
    if not isinstance(resources, list):
        where = _where(source, text, '"resources"')
        raise StateError(f"{where}: resources: expected a list")
    out: list[Resource] = []
    compiled = {t: {p: jmespath.compile(p) for p in spec} for t, spec in compare.items()}
    for i, block in enumerate(resources):
        if not isinstance(block, dict):
            raise StateError(f"{source}: resources[{i}]: expected an object")
        if block.get("mode", "managed") != "managed":
            continue  # data sources declare nothing
        tf_type = block.get("type")
        name = block.get("name")
        if not isinstance(tf_type, str) or not isinstance(name, str):
            raise StateError(f"{source}: resources[{i}]: 'type' and 'name' are required strings")
        if tf_type not in TF_KINDS:
            continue
        instances = block.get("instances")
        needle = f'"name": "{name}"'
        if not isinstance(instances, list):
            where = _where(source, text, needle, '"instances"')
            raise StateError(
                f"{where}: resources[{i}] ({tf_type}.{name}): instances: expected a list"
            )
        module = block.get("module")
        for j, inst in enumerate(instances):
            attrs = inst.get("attributes") if isinstance(inst, dict) else None
            if not isinstance(attrs, dict):
                raise StateError(
                    f"{_where(source, text, needle)}: resources[{i}] ({tf_type}.{name}): "
                    f"instances[{j}].attributes: expected an object"
                )
            address = ".".join(p for p in (module, tf_type, name) if p)
            if "index_key" in inst:
                address += f"[{json.dumps(inst['index_key'])}]"
            out.append(
                _resource(tf_type, address, source, attrs, compiled.get(tf_type, {}), observed_at)
            )
    return tuple(out)


def _resource(
    tf_type: str,
    address: str,
    source: str,
    attrs: Mapping[str, Any],
    compare: Mapping[str, Any],
    observed_at: datetime,
) -> Resource:
    ident, arn, name = _identity(tf_type, attrs)
    account, region = _arn_parts(arn) if arn else ("*", "*")
    declared: dict[str, JSON] = {}
    for path, expr in compare.items():
        value = expr.search(dict(attrs))
        if value is None:
            continue
        if not _depth(value, MAX_DECLARED_DEPTH):
            raise StateError(
                f"{source}: {address}: {path}: nested deeper than {MAX_DECLARED_DEPTH} levels"
            )
        declared[path] = json.loads(canonical_json(value))
    tags = attrs.get("tags") or {}
    attributes: dict[str, JSON] = {
        "Type": tf_type,
        "Address": address,
        "Source": source,
        "TargetKind": TF_KINDS[tf_type].value,
        "Id": ident,
        "Declared": declared,
    }
    if arn:
        attributes["Arn"] = arn
    if name:
        attributes["Name"] = str(name)
    return Resource(
        kind=Kind.IAC_RESOURCE,
        arn=f"tf:{source}#{address}",
        id=address,
        account=account,
        region=region,
        tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
        attributes=attributes,
        observed_at=observed_at,
    )


def expand_local(pattern: str) -> list[str]:
    return sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


S3Get = Callable[[str, str], bytes]  # (bucket, key) -> body
S3List = Callable[[str, str], Iterable[str]]  # (bucket, prefix) -> keys


def load_states(
    patterns: Iterable[str],
    compare: CompareSpec,
    observed_at: datetime,
    s3_get: S3Get,
    s3_list: S3List,
    on_s3_error: Callable[[str, BaseException], CollectionGap],
) -> StateLoad:
    """Load every configured state: local paths/globs and s3://bucket/key (globs allowed)."""
    resources: list[Resource] = []
    gaps: list[CollectionGap] = []
    sources: list[str] = []
    for pattern in patterns:
        if pattern.startswith("s3://"):
            bucket, key = split_s3(pattern)
            try:
                if glob.has_magic(key):
                    prefix = key.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
                    keys = [k for k in s3_list(bucket, prefix) if fnmatch.fnmatchcase(k, key)]
                else:
                    keys = [key]
                for k in keys:
                    uri = f"s3://{bucket}/{k}"
                    body = s3_get(bucket, k)
                    text = decode_state(body, uri)
                    resources.extend(parse_state(text, uri, compare, observed_at))
                    sources.append(uri)
            except StateError:
                raise
            except Exception as exc:
                gaps.append(on_s3_error(pattern, exc))
            continue
        paths = expand_local(pattern)
        if not paths:
            raise StateError(f"{pattern}: no Terraform state file matches this pattern")
        for path in paths:
            try:
                data = read_capped(Path(path), MAX_STATE_BYTES, "Terraform state")
                text = decode_state(data, path)
            except ValueError as exc:
                raise StateError(str(exc)) from None
            resources.extend(parse_state(text, path, compare, observed_at))
            sources.append(path)
    return StateLoad(tuple(resources), tuple(gaps), tuple(sources))


def state_gap(pattern: str, operation: str, code: str, message: str) -> CollectionGap:
    return CollectionGap(
        account="*",
        region="*",
        service=Service.IAC,
        kinds=(Kind.IAC_RESOURCE,),
        operation=operation,
        error_code=code,
        message=f"{pattern}: {message}"[:500],
    )

"""Reading watched fields (JMESPath paths in rule params) out of resource attributes.

Drift rules compare the same paths in two configurations of one resource; IaC rules compare
a declared value with a live one. Both need the same reading: lists of scalars are compared
as sets (AWS does not promise an order for security groups or volume ids), everything else
by value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from auditor.model import JSON, canonical_json

_TOP = re.compile(r"^[A-Za-z0-9_]+")


@lru_cache(maxsize=1024)
def compiled(path: str) -> Any:
    return jmespath.compile(path)


def path_problem(path: Any) -> str | None:
    """Why `path` is not a usable JMESPath field, or None."""
    if not isinstance(path, str) or not path.strip():
        return f"{path!r} is not a field path (a JMESPath expression such as InstanceType)"
    try:
        compiled(path)
    except JMESPathError as exc:
        return f"{path!r} is not valid JMESPath: {exc}"
    return None


def top_key(path: str) -> str:
    """The attribute a path starts from: what `Resource.unavailable` would name."""
    match = _TOP.match(path)
    return match.group(0) if match else path


def comparable(value: JSON) -> JSON:
    """A value as compared: lists of scalars sorted, so order never counts as a change."""
    if isinstance(value, list) and all(
        isinstance(v, str | int | float | bool) or v is None for v in value
    ):
        return sorted(value, key=canonical_json)
    return value


def read(attributes: Mapping[str, JSON], path: str) -> JSON:
    return comparable(compiled(path).search(attributes))


def missing_keys(unavailable: Iterable[str], paths: Iterable[str]) -> list[str]:
    """The attributes among `paths` that could not be read."""
    gone = set(unavailable)
    return sorted({top_key(p) for p in paths} & gone) if gone else []


def list_problems(value: Any, name: str) -> list[str]:
    """Problems of a list-of-paths param."""
    if not isinstance(value, list) or not value:
        return [f"{name}: expected a non-empty list of field paths"]
    return [f"{name}: {why}" for why in (path_problem(p) for p in value) if why]

"""`AUDITOR_<SECTION>__<KEY>` environment variables -> config overrides, each path remembering
the variable it came from, so an error names the variable and not the config file.

A value for a list of plain values may be comma-separated (`AUDITOR_SERVICES=ec2,ecs`) or a
JSON list; a section, a mapping or a list of mappings is JSON. A value that is not valid
UTF-8, or not valid JSON where JSON is needed, is an error naming the variable. Variables
whose first part is not a config section (`AUDITOR_SLACK_WEBHOOK`, ...) are not config.
"""

from __future__ import annotations

import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

ENV_PREFIX = "AUDITOR_"
DELIMITER = "__"
MAX_VALUE_BYTES = 64 * 1024

Path_ = tuple[str, ...]


class EnvError(ValueError):
    """A config environment variable cannot be read: the message names it."""


@dataclass(frozen=True, slots=True)
class EnvOverrides:
    data: dict[str, Any]
    sources: Mapping[Path_, str]  # config path -> the variable it came from

    def variable_for(self, path: tuple[Any, ...]) -> str | None:
        """The variable that set `path` or one of its parents (longest match)."""
        keys = tuple(str(p) for p in path)
        for end in range(len(keys), 0, -1):
            found = self.sources.get(keys[:end])
            if found is not None:
                return found
        return None


def _args(annotation: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(annotation) if a is not type(None))
    return (annotation,)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _shape(annotation: Any) -> Literal["plain", "list", "json", "text-or-list"]:
    """How to read a variable for a field of this type."""
    kinds: set[str] = set()
    for arg in _args(annotation):
        origin = typing.get_origin(arg)
        if _is_model(arg) or origin in (dict, Mapping) or arg is dict:
            kinds.add("json")
        elif origin in (tuple, list):
            items = [a for a in typing.get_args(arg) if a is not Ellipsis]
            complex_items = any(
                _is_model(a) or typing.get_origin(a) in (dict, list, tuple, Mapping)
                for i in items
                for a in _args(i)
            )
            kinds.add("json" if complex_items else "list")
        else:
            kinds.add("plain")
    if "json" in kinds:
        return "json"
    if kinds == {"list"}:
        return "list"
    if "list" in kinds:
        return "text-or-list"  # e.g. regions: a list, or the word "all"
    return "plain"


def _field_annotation(model: Any, path: Path_) -> Any:
    """The annotation at `path` in the model tree; None past a key the model does not have."""
    annotation: Any = model
    for part in path:
        found = None
        for arg in _args(annotation):
            if _is_model(arg) and part in arg.model_fields:
                found = arg.model_fields[part].annotation
        if found is None:
            return None
        annotation = found
    return annotation


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def _json(name: str, field: str, raw: str, annotation: Any) -> Any:
    try:
        return json.loads(raw, parse_constant=_reject_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        listed = any(typing.get_origin(a) in (tuple, list) for a in _args(annotation))
        hint = 'a JSON list, e.g. [{"id": "..."}]' if listed else 'a JSON object, e.g. {"key": 1}'
        raise EnvError(
            f"environment {name}: {field}: not valid JSON ({exc.msg} at character {exc.pos}); "
            f"expected {hint}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise EnvError(f"environment {name}: {field}: not valid JSON ({exc})") from None


def _value(name: str, path: Path_, raw: str, annotation: Any) -> Any:
    field = ".".join(path)
    shape = _shape(annotation) if annotation is not None else "plain"
    stripped = raw.strip()
    if shape == "plain":
        return raw
    if stripped.startswith(("[", "{")) or shape == "json":
        return _json(name, field, stripped, annotation)
    if shape == "text-or-list":
        return stripped
    return [part.strip() for part in stripped.split(",") if part.strip()]


def _set(tree: dict[str, Any], path: Path_, value: Any, name: str) -> None:
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    existing = node.get(path[-1])
    if isinstance(existing, dict) and isinstance(value, dict):
        node[path[-1]] = {**value, **existing}  # the more specific variable wins
    elif isinstance(existing, dict):
        raise EnvError(f"environment {name}: conflicts with variables that set its keys")
    else:
        node[path[-1]] = value


def env_overrides(
    model: type[BaseModel], environ: Mapping[str, str], internal: tuple[str, ...] = ()
) -> EnvOverrides:
    """The overrides the environment holds for `model` (the Settings class); fields named in
    `internal` are not config and never come from the environment."""
    data: dict[str, Any] = {}
    sources: dict[Path_, str] = {}
    # the longest names last, so AUDITOR_SLACK__X refines AUDITOR_SLACK='{...}'
    for name in sorted(environ, key=lambda n: (n.count(DELIMITER), n)):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = tuple(name[len(ENV_PREFIX) :].lower().split(DELIMITER))
        if path[0] not in model.model_fields or path[0] in internal:
            continue
        if any(not part for part in path):
            raise EnvError(f"environment {name}: empty key between '{DELIMITER}'")
        raw = environ[name]
        try:
            size = len(raw.encode("utf-8"))
        except UnicodeEncodeError:
            raise EnvError(f"environment {name}: the value is not valid UTF-8") from None
        if size > MAX_VALUE_BYTES:
            raise EnvError(f"environment {name}: the value is longer than {MAX_VALUE_BYTES} bytes")
        value = _value(name, path, raw, _field_annotation(model, path))
        _set(data, path, value, name)
        sources[path] = name
    return EnvOverrides(data, sources)

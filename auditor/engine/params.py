"""Rule params: their declarations in a pack, and values (defaults or config overrides)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from auditor.engine.rules import PARAM_TYPES, ParamSpec

SPEC_KEYS = ("type", "default", "description", "min", "max", "pattern")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

Problem = Callable[[tuple[Any, ...], str, str], None]  # (yaml path, field, message)


def check_value(spec: ParamSpec, value: Any) -> str | None:
    """Why `value` is not valid for `spec`, or None when it is."""
    kind = spec.type
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"expected an integer, got {value!r}"
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"expected a number, got {value!r}"
    if kind == "string" and not isinstance(value, str):
        return f"expected a string, got {value!r}"
    if kind == "boolean" and not isinstance(value, bool):
        return f"expected true or false, got {value!r}"
    if kind == "list" and not isinstance(value, list):
        return f"expected a list, got {value!r}"
    if kind == "mapping" and not isinstance(value, Mapping):
        return f"expected a mapping, got {value!r}"
    if kind in ("integer", "number"):
        if spec.min is not None and value < spec.min:
            return f"{value} is below the minimum {spec.min:g}"
        if spec.max is not None and value > spec.max:
            return f"{value} is above the maximum {spec.max:g}"
    if kind == "string" and spec.pattern is not None and not re.fullmatch(spec.pattern, value):
        return f"{value!r} does not match {spec.pattern}"
    return None


def parse_specs(raw: Any, path: tuple[Any, ...], problem: Problem) -> dict[str, ParamSpec]:
    """`params: {days: {type: integer, default: 90, min: 1, description: ...}}`."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problem(path, "params", "expected a mapping of param name to {type, default, ...}")
        return {}
    specs: dict[str, ParamSpec] = {}
    for name, body in raw.items():
        here = (*path, name)
        field = f"params.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            problem(here, field, "param names are lower_snake_case")
            continue
        if not isinstance(body, Mapping):
            problem(here, field, "expected a mapping with at least type and default")
            continue
        bad = False
        for key in body:
            if key not in SPEC_KEYS:
                problem(
                    (*here, key), f"{field}.{key}", f"unknown key (valid: {', '.join(SPEC_KEYS)})"
                )
                bad = True
        kind = body.get("type")
        if kind not in PARAM_TYPES:
            problem(
                (*here, "type"),
                f"{field}.type",
                f"unknown type {kind!r} (valid: {', '.join(PARAM_TYPES)})",
            )
            bad = True
        if "default" not in body:
            problem(here, f"{field}.default", "missing: every param needs a default")
            bad = True
        pattern = body.get("pattern")
        if pattern is not None:
            try:
                re.compile(str(pattern))
            except re.error as exc:
                problem(
                    (*here, "pattern"), f"{field}.pattern", f"invalid regular expression: {exc}"
                )
                bad = True
        bounds = {}
        for key in ("min", "max"):
            value = body.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                problem((*here, key), f"{field}.{key}", "expected a number")
                bad = True
            bounds[key] = value
        if bad:
            continue
        spec = ParamSpec(
            name=name,
            type=str(kind),
            default=body["default"],
            description=str(body.get("description") or ""),
            min=bounds["min"],
            max=bounds["max"],
            pattern=str(pattern) if pattern is not None else None,
        )
        why = check_value(spec, spec.default)
        if why is not None:
            problem((*here, "default"), f"{field}.default", why)
            continue
        specs[name] = spec
    return specs

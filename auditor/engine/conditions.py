"""Declarative conditions: a small closed set of operators over JMESPath keys.

A condition says when a resource FAILS. Keys are JMESPath expressions evaluated against the
resource's `attributes`; the resource's tags are reachable as `tags` (e.g. `tags.Owner`).

    {key: KeyName, op: present}
    {all: [cond, ...]}   {any: [cond, ...]}   {not: cond}

Operators: equals, in, not-in, present, absent, regex (re.search), contains (list member or
substring), age-greater-than (days; the value is an ISO 8601 date). A value may reference a
rule param: `value: {param: days}`. Every expression is compiled once per rule; plain dotted
paths (the common case) become direct dictionary lookups.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jmespath
import jmespath.exceptions

from auditor.engine.jmes import compile_node
from auditor.model import parse_iso

Getter = Callable[[Mapping[str, Any], Mapping[str, str]], Any]
Predicate = Callable[[Mapping[str, Any], Mapping[str, str], "EvalContext"], bool]
Report = Callable[[tuple[Any, ...], str, str], None]

OPERATORS = ("equals", "in", "not-in", "present", "absent", "regex", "contains", "age-greater-than")
COMBINATORS = ("all", "any", "not")
_NO_VALUE = ("present", "absent")
_LEAF_KEYS = ("key", "op", "value")


class Indeterminate(Exception):
    """The data a condition needs is not interpretable: the resource is `unknown`, not passing."""


@dataclass(slots=True)
class EvalContext:
    """Per-evaluation state shared by every rule: the injected time and derived cut-offs."""

    now: datetime
    clock: Any
    _cutoffs: dict[float, tuple[str, datetime]] = field(default_factory=dict)

    def cutoff(self, days: float) -> tuple[str, datetime]:
        """now - days, as a datetime and as the canonical ISO string (compared directly)."""
        found = self._cutoffs.get(days)
        if found is None:
            at = (self.now - timedelta(days=days)).astimezone(UTC)
            found = (at.isoformat(timespec="seconds"), at)
            self._cutoffs[days] = found
        return found


@dataclass(frozen=True, slots=True)
class Condition:
    predicate: Predicate
    leaves: tuple[tuple[str, Getter], ...]  # (key, getter) of every leaf: the evidence
    reads: frozenset[str]  # attribute names the expressions mention (for Resource.unavailable)

    def evidence(self, attributes: Mapping[str, Any], tags: Mapping[str, str]) -> dict[str, Any]:
        return {key: get(attributes, tags) for key, get in self.leaves}


def _field_path(ast: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The names of a plain dotted path (`a.b.c`), None for any other expression."""
    if ast.get("type") == "field":
        return (str(ast["value"]),)
    if ast.get("type") == "subexpression":
        names: list[str] = []
        for child in ast.get("children", ()):
            sub = _field_path(child)
            if sub is None:
                return None
            names.extend(sub)
        return tuple(names)
    return None


def _fields(ast: Any, out: set[str]) -> None:
    if isinstance(ast, Mapping):
        if ast.get("type") == "field":
            out.add(str(ast["value"]))
        for child in ast.get("children", ()):
            _fields(child, out)
    elif isinstance(ast, list):
        for child in ast:
            _fields(child, out)


def _path_getter(names: tuple[str, ...]) -> Getter:
    root_tags = names[0] == "tags"
    first, rest = names[0], names[1:]
    if root_tags:
        if len(names) == 2:
            tag = names[1]
            return lambda attrs, tags: tags.get(tag)
        return lambda attrs, tags: _walk(tags, rest)
    if not rest:
        return lambda attrs, tags: attrs.get(first)
    if len(rest) == 1:
        second = rest[0]

        def get2(attrs: Mapping[str, Any], tags: Mapping[str, str]) -> Any:
            value = attrs.get(first)
            try:
                return value.get(second)  # type: ignore[union-attr]
            except AttributeError:
                return None

        return get2
    return lambda attrs, tags: _walk(attrs.get(first), rest)


def _walk(value: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        try:
            value = value.get(name)
        except AttributeError:
            return None
    return value


def _jmespath_getter(parsed: Mapping[str, Any], uses_tags: bool) -> Getter:
    search = compile_node(parsed)
    if uses_tags:
        return lambda attrs, tags: search({**attrs, "tags": dict(tags)})
    return lambda attrs, tags: search(attrs)


def present(value: Any) -> bool:
    """Present means set and not empty ("" / [] / {} count as absent)."""
    if value is None:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


def _age(get: Getter, days: float) -> Predicate:
    def older(attrs: Mapping[str, Any], tags: Mapping[str, str], ctx: EvalContext) -> bool:
        value = get(attrs, tags)
        text, at = ctx.cutoff(days)
        if isinstance(value, str) and len(value) == 25 and value.endswith("+00:00"):
            return value < text
        try:
            return parse_iso(value) < at
        except (TypeError, ValueError, AttributeError):
            raise Indeterminate(f"{value!r} is not a date") from None

    return older


def _equals(get: Getter, expected: Any) -> Predicate:
    if isinstance(expected, bool) or expected is None:
        return lambda attrs, tags, ctx: get(attrs, tags) is expected
    return lambda attrs, tags, ctx: get(attrs, tags) == expected


def _member(get: Getter, choices: tuple[Any, ...], negate: bool) -> Predicate:
    if negate:
        return lambda attrs, tags, ctx: get(attrs, tags) not in choices
    return lambda attrs, tags, ctx: get(attrs, tags) in choices


def _contains(get: Getter, item: Any) -> Predicate:
    def contains(attrs: Mapping[str, Any], tags: Mapping[str, str], ctx: EvalContext) -> bool:
        value = get(attrs, tags)
        if isinstance(value, list):
            return item in value
        if isinstance(value, str) and isinstance(item, str):
            return item in value
        return False

    return contains


def _regex(get: Getter, pattern: re.Pattern[str]) -> Predicate:
    def matches(attrs: Mapping[str, Any], tags: Mapping[str, str], ctx: EvalContext) -> bool:
        value = get(attrs, tags)
        return isinstance(value, str) and pattern.search(value) is not None

    return matches


def _all(parts: tuple[Predicate, ...]) -> Predicate:
    def every(attrs: Mapping[str, Any], tags: Mapping[str, str], ctx: EvalContext) -> bool:
        for part in parts:  # noqa: SIM110 - hot path: no generator per evaluation
            if not part(attrs, tags, ctx):
                return False
        return True

    return every


def _any(parts: tuple[Predicate, ...]) -> Predicate:
    def some(attrs: Mapping[str, Any], tags: Mapping[str, str], ctx: EvalContext) -> bool:
        for part in parts:  # noqa: SIM110 - hot path: no generator per evaluation
            if part(attrs, tags, ctx):
                return True
        return False

    return some


def _not(part: Predicate) -> Predicate:
    return lambda attrs, tags, ctx: not part(attrs, tags, ctx)


class ConditionCompiler:
    """Validates and compiles one rule's condition; reports every problem it finds."""

    def __init__(self, params: Mapping[str, Any], report: Report) -> None:
        self._params = params
        self._report = report
        self._leaves: list[tuple[str, Getter]] = []
        self._reads: set[str] = set()

    def compile(self, raw: Any, path: tuple[Any, ...]) -> Condition | None:
        predicate = self._node(raw, path)
        if predicate is None:
            return None
        return Condition(predicate, tuple(self._leaves), frozenset(self._reads))

    def _error(self, path: tuple[Any, ...], message: str) -> None:
        self._report(path, _dotted(path), message)

    def _node(self, raw: Any, path: tuple[Any, ...]) -> Predicate | None:
        if not isinstance(raw, Mapping) or not raw:
            self._error(path, "expected a mapping: {key, op, value} or one of all/any/not")
            return None
        combinators = [k for k in raw if k in COMBINATORS]
        if combinators:
            if len(raw) != 1:
                self._error(path, f"{combinators[0]} must be the only key of its mapping")
                return None
            name = combinators[0]
            return self._combine(name, raw[name], (*path, name))
        unknown = [k for k in raw if k not in _LEAF_KEYS]
        for key in unknown:
            self._error(
                (*path, key), f"unknown key (valid: {', '.join((*_LEAF_KEYS, *COMBINATORS))})"
            )
        if unknown:
            return None
        return self._leaf(raw, path)

    def _combine(self, name: str, raw: Any, path: tuple[Any, ...]) -> Predicate | None:
        if name == "not":
            part = self._node(raw, path)
            return _not(part) if part is not None else None
        if not isinstance(raw, list) or not raw:
            self._error(path, f"{name} takes a non-empty list of conditions")
            return None
        parts = [self._node(item, (*path, i)) for i, item in enumerate(raw)]
        if any(p is None for p in parts):
            return None
        done = tuple(p for p in parts if p is not None)
        if len(done) == 1:
            return done[0]
        return _all(done) if name == "all" else _any(done)

    def _leaf(self, raw: Mapping[str, Any], path: tuple[Any, ...]) -> Predicate | None:
        key, op = raw.get("key"), raw.get("op")
        ok = True
        if not isinstance(key, str) or not key:
            self._error((*path, "key"), "missing or not a string: a JMESPath expression")
            ok = False
        if op not in OPERATORS:
            self._error((*path, "op"), f"unknown operator {op!r} (valid: {', '.join(OPERATORS)})")
            ok = False
        has_value = "value" in raw
        if op in _NO_VALUE and has_value:
            self._error((*path, "value"), f"{op} takes no value")
            ok = False
        if op in OPERATORS and op not in _NO_VALUE and not has_value:
            self._error(path, f"{op} needs a value")
            ok = False
        get = self._getter(key, (*path, "key")) if isinstance(key, str) and key else None
        if not ok or get is None:
            return None
        value = self._value(raw.get("value"), (*path, "value"))
        if value is _BAD:
            return None
        self._leaves.append((key, get))  # type: ignore[arg-type]
        return self._operator(str(op), get, value, (*path, "value"))

    def _operator(
        self, op: str, get: Getter, value: Any, path: tuple[Any, ...]
    ) -> Predicate | None:
        if op == "equals":
            return _equals(get, value)
        if op in ("in", "not-in"):
            if not isinstance(value, list):
                self._error(path, f"{op} needs a list of values")
                return None
            return _member(get, tuple(value), negate=op == "not-in")
        if op == "present":
            return lambda attrs, tags, ctx: present(get(attrs, tags))
        if op == "absent":
            return lambda attrs, tags, ctx: not present(get(attrs, tags))
        if op == "regex":
            if not isinstance(value, str):
                self._error(path, "regex needs a string pattern")
                return None
            try:
                return _regex(get, re.compile(value))
            except re.error as exc:
                self._error(path, f"invalid regular expression: {exc}")
                return None
        if op == "contains":
            return _contains(get, value)
        if op == "age-greater-than":
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                self._error(path, "age-greater-than needs a number of days >= 0")
                return None
            return _age(get, float(value))
        raise AssertionError(op)  # pragma: no cover - op was validated

    def _getter(self, key: str, path: tuple[Any, ...]) -> Getter | None:
        try:
            expression = jmespath.compile(key)
        except jmespath.exceptions.JMESPathError as exc:
            self._error(path, f"invalid JMESPath expression {key!r}: {str(exc).splitlines()[0]}")
            return None
        names: set[str] = set()
        _fields(expression.parsed, names)
        self._reads.update(names)
        simple = _field_path(expression.parsed)
        if simple is not None:
            return _path_getter(simple)
        return _jmespath_getter(expression.parsed, "tags" in names)

    def _value(self, raw: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(raw, Mapping) and "param" in raw:
            name = raw.get("param")
            if len(raw) != 1 or name not in self._params:
                valid = ", ".join(sorted(self._params)) or "none declared"
                self._error(path, f"unknown param reference {name!r} (valid: {valid})")
                return _BAD
            return self._params[str(name)]
        return raw


_BAD = object()


def _dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out

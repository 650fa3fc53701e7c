"""JMESPath expressions compiled to plain Python closures, once per rule.

jmespath's tree interpreter walks the AST on every search; for the expressions rules use
(paths, `||`, filters, projections, comparisons with literals) a closure tree is several
times faster. Any node type not handled here falls back to the interpreter for that subtree,
so the semantics stay JMESPath's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jmespath.visitor import TreeInterpreter

Fn = Callable[[Any], Any]

_interpreter = TreeInterpreter()


def _false(value: Any) -> bool:
    """JMESPath falsiness: "", [], {}, None and False are false; 0 is true."""
    return value is None or value is False or value in ("", [], {})


def _equals(left: Any, right: Any) -> bool:
    # JMESPath never equates booleans with numbers (true != 1)
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    return bool(left == right)


def _field(name: str) -> Fn:
    def get(value: Any) -> Any:
        try:
            return value.get(name)
        except AttributeError:
            return None

    return get


def _chain(parts: list[Fn]) -> Fn:
    if len(parts) == 1:
        return parts[0]
    first, rest = parts[0], tuple(parts[1:])

    def chained(value: Any) -> Any:
        value = first(value)
        for part in rest:
            if value is None:
                return None
            value = part(value)
        return value

    return chained


def _fallback(node: Mapping[str, Any]) -> Fn:
    tree: Any = node
    return lambda value: _interpreter.visit(tree, value)


def compile_node(node: Mapping[str, Any]) -> Fn:
    """A Python closure for one node of a parsed JMESPath expression."""
    kind = node["type"]
    children = node.get("children", [])
    if kind == "field":
        return _field(str(node["value"]))
    if kind in ("identity", "current"):
        return lambda value: value
    if kind == "literal":
        constant = node["value"]
        return lambda value: constant
    if kind == "subexpression":
        return _chain([compile_node(c) for c in children])
    if kind == "or_expression":
        left, right = compile_node(children[0]), compile_node(children[1])

        def either(value: Any) -> Any:
            found = left(value)
            return right(value) if _false(found) else found

        return either
    if kind == "and_expression":
        left, right = compile_node(children[0]), compile_node(children[1])

        def both(value: Any) -> Any:
            found = left(value)
            return found if _false(found) else right(value)

        return both
    if kind == "not_expression":
        inner = compile_node(children[0])
        return lambda value: _false(inner(value))
    if kind == "comparator" and node["value"] in ("eq", "ne"):
        left, right = compile_node(children[0]), compile_node(children[1])
        if node["value"] == "eq":
            return lambda value: _equals(left(value), right(value))
        return lambda value: not _equals(left(value), right(value))
    if kind == "filter_projection":
        base, project, condition = (compile_node(c) for c in children)

        def filtered(value: Any) -> Any:
            items = base(value)
            if not isinstance(items, list):
                return None
            out = []
            for item in items:
                if not _false(condition(item)):
                    projected = project(item)
                    if projected is not None:
                        out.append(projected)
            return out

        return filtered
    if kind == "projection":
        base, project = compile_node(children[0]), compile_node(children[1])

        def projected(value: Any) -> Any:
            items = base(value)
            if not isinstance(items, list):
                return None
            out = []
            for item in items:
                found = project(item)
                if found is not None:
                    out.append(found)
            return out

        return projected
    return _fallback(node)

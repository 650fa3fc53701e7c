"""The JMESPath closure compiler agrees with jmespath itself."""

from __future__ import annotations

from typing import Any

import jmespath
import pytest

from auditor.engine.jmes import compile_node

DOC: dict[str, Any] = {
    "a": {"b": {"c": 1}},
    "flag": True,
    "zero": 0,
    "empty": "",
    "items": [
        {"name": "x", "on": True, "n": 1, "tags": ["t1"]},
        {"name": "y", "on": False, "n": 0},
        {"name": "z", "n": 1},
        "not-a-mapping",
    ],
}

EXPRESSIONS = [
    "a.b.c",
    "a.b.missing",
    "a.b.c.d",
    "missing || a.b.c",
    "empty || zero",
    "flag && a",
    "!empty",
    "items[?on == `true`].name",
    "items[?on != `true`].name",
    "items[?n == `1`].name",
    "items[?on == `1`].name",
    "items[].name",
    "items[*].name",
    "items[0].name",
    "length(items)",
    "items[?contains(tags || `[]`, 't1')].name",
    "a.*",
    "missing[?x == `1`]",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_compiled_expression_matches_jmespath(expression: str) -> None:
    """Rules get JMESPath semantics whether or not the fast path handles the node."""
    compiled = jmespath.compile(expression)
    assert compile_node(compiled.parsed)(DOC) == compiled.search(DOC)

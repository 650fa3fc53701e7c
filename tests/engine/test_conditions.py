"""The declarative operators, as a compliance team writing its own pack relies on them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from auditor.engine.conditions import ConditionCompiler, EvalContext, Indeterminate
from auditor.model import FixedClock, iso
from tests.conftest import NOW


def holds(condition: Any, attributes: dict[str, Any], tags: dict[str, str] | None = None) -> bool:
    errors: list[str] = []
    compiled = ConditionCompiler({"days": 30}, lambda p, f, m: errors.append(m)).compile(
        condition, ("fails_when",)
    )
    assert errors == []
    assert compiled is not None
    return compiled.predicate(attributes, tags or {}, EvalContext(NOW, FixedClock(NOW)))


@pytest.mark.parametrize(
    ("condition", "attributes", "expected"),
    [
        ({"key": "a.b", "op": "equals", "value": "x"}, {"a": {"b": "x"}}, True),
        ({"key": "a.b", "op": "equals", "value": "x"}, {"a": "not a mapping"}, False),
        ({"key": "flag", "op": "equals", "value": True}, {"flag": 1}, False),
        ({"key": "v", "op": "in", "value": ["a", "b"]}, {"v": "b"}, True),
        ({"key": "v", "op": "not-in", "value": ["a"]}, {}, True),
        ({"key": "v", "op": "present"}, {"v": ""}, False),
        ({"key": "v", "op": "present"}, {"v": False}, True),
        ({"key": "v", "op": "absent"}, {"v": []}, True),
        ({"key": "v", "op": "regex", "value": "^prod-"}, {"v": "prod-web"}, True),
        ({"key": "v", "op": "regex", "value": "^prod-"}, {"v": 3}, False),
        ({"key": "v", "op": "contains", "value": "x"}, {"v": ["x", "y"]}, True),
        ({"key": "v", "op": "contains", "value": "ell"}, {"v": "hello"}, True),
        ({"key": "v[?p == `true`].n", "op": "present"}, {"v": [{"p": True, "n": "a"}]}, True),
        ({"key": "v[?p == `true`].n", "op": "present"}, {"v": [{"p": False, "n": "a"}]}, False),
        ({"key": "a || b", "op": "equals", "value": 2}, {"b": 2}, True),
        ({"not": {"key": "v", "op": "present"}}, {}, True),
        ({"any": [{"key": "a", "op": "present"}, {"key": "b", "op": "present"}]}, {"b": 1}, True),
        ({"all": [{"key": "a", "op": "present"}, {"key": "b", "op": "present"}]}, {"b": 1}, False),
    ],
)
def test_operator_semantics(condition: Any, attributes: dict[str, Any], expected: bool) -> None:
    """Each operator does what docs/rules.md says (JMESPath semantics for missing keys)."""
    assert holds(condition, attributes) is expected


def test_tags_are_reachable_as_tags() -> None:
    """`tags.X` reads the resource's tags, also inside a full JMESPath expression."""
    assert holds({"key": "tags.Owner", "op": "absent"}, {}, {"Team": "x"}) is True
    assert holds({"key": "tags.Owner", "op": "equals", "value": "a"}, {}, {"Owner": "a"}) is True
    assert holds({"key": "keys(tags)", "op": "contains", "value": "Team"}, {}, {"Team": "x"})


def test_age_uses_the_injected_clock_and_params() -> None:
    """age-greater-than compares with the clock, whatever the date's ISO spelling."""
    condition = {"key": "t", "op": "age-greater-than", "value": {"param": "days"}}
    assert holds(condition, {"t": iso(NOW - timedelta(days=31))}) is True
    assert holds(condition, {"t": iso(NOW - timedelta(days=29))}) is False
    assert holds(condition, {"t": "2020-01-01T00:00:00Z"}) is True
    assert holds(condition, {"t": "2026-11-21T12:00:00.123+00:00"}) is False


def test_age_of_something_that_is_not_a_date_is_indeterminate() -> None:
    """An unreadable date is not a pass: the engine turns it into `unknown`."""
    with pytest.raises(Indeterminate):
        holds({"key": "t", "op": "age-greater-than", "value": 1}, {"t": None})

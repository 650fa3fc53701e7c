"""Fuzzing the loaders users feed files to: whatever the bytes, the answer is a value or our
one bad-input error (exit 2), never another exception (a traceback).

Bounded: a fixed number of examples per loader and a per-example deadline."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.engine import RuleError, load_rules
from auditor.iac.terraform import StateError, parse_state
from auditor.settings import ConfigError, RulesConfig, Settings, load_settings
from auditor.yamlsafe import YamlError, parse_yaml

FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,  # the same examples every run: a failure here is reproducible
)

YAML_CHARS = st.sampled_from(
    [
        *"ab1:-[]{}&*!?|>#'\"\n ,.\t~%@`\\=<",
        "\u00e9",
        "\ufeff",
        "\x00",
        "!!python/object:os.system",
        ".nan",
        "2027-02-30",
        "<<: *a",
        "&a ",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
)
SECTION_KEYS = [n for n in Settings.model_fields if n not in ("source", "locations")]
KEYS = st.one_of(
    st.sampled_from([*SECTION_KEYS, "mode", "listen", "scan", "rules", "tags", "x"]),
    st.text(max_size=8),
)


def _tree(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)
        ),
        max_leaves=20,
    )


@contextmanager
def _file(data: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "input.yaml"
        path.write_bytes(data)
        yield path


def refused(call: Callable[[], object], error: type[Exception]) -> str | None:
    """The message of `error` if `call` raises it, None if it returns; anything else raised
    propagates and fails the test (that would be a traceback for the user)."""
    try:
        call()
    except error as exc:
        return str(exc)
    return None


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=None, allow_unicode=True)


@FUZZ
@given(st.lists(YAML_CHARS, max_size=80).map("".join))
def test_yaml_loader_never_raises_anything_else(text: str) -> None:
    """Arbitrary YAML-ish text: a document or YamlError."""
    message = refused(lambda: parse_yaml(text, "fuzz.yaml"), YamlError)
    assert message is None or message.startswith("fuzz.yaml")


@FUZZ
@given(
    st.dictionaries(st.sampled_from(SECTION_KEYS), _tree(SCALARS), max_size=5),
    st.binary(max_size=8),
)
def test_config_loader_never_raises_anything_else(data: dict[str, Any], noise: bytes) -> None:
    """A config made of real section names with random values (plus stray bytes): Settings
    or ConfigError naming the file."""
    with _file(_dump(data).encode() + noise) as path:
        message = refused(lambda: load_settings(path), ConfigError)
        assert message is None or str(path) in message


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "SERVICES",
                "ACCOUNTS",
                "REGIONS",
                "STORE",
                "SCHEDULE__SCAN",
                "REMEDIATION__MODE",
                "SLACK__TIMEOUT_SECONDS",
                "EXEMPTIONS",
                "RULES__PARAMS",
                "REPORTS__FORMATS",
                "SLACK____X",
                "METRICS",
            ]
        ),
        st.one_of(st.text(max_size=30), _tree(SCALARS).map(lambda v: json.dumps(v, default=str))),
        max_size=3,
    )
)
def test_environment_overrides_never_raise_anything_else(variables: dict[str, str]) -> None:
    """Random AUDITOR_* values: Settings or ConfigError naming a variable."""
    saved = dict(os.environ)
    try:
        for name in [n for n in os.environ if n.upper().startswith("AUDITOR_")]:
            del os.environ[name]
        for name, value in variables.items():
            os.environ["AUDITOR_" + name] = value.replace("\x00", "")
        with _file(b"{}\n") as path:
            message = refused(lambda: load_settings(path), ConfigError)
            assert message is None or "environment AUDITOR_" in message
    finally:
        os.environ.clear()
        os.environ.update(saved)


RULE_FIELDS = [
    "id",
    "title",
    "severity",
    "resource",
    "description",
    "rationale",
    "params",
    "frameworks",
    "remediation",
    "fails_when",
    "check",
    "message",
]
RULE_VALUES = st.one_of(
    _tree(SCALARS),
    st.sampled_from(["ec2.instance", "low", "critical", "ec2.fuzz", "equals", "InstanceType"]),
    st.fixed_dictionaries(
        {
            "key": st.text(max_size=10),
            "op": st.sampled_from(["equals", "regex", "in", "age-greater-than", "nope"]),
            "value": _tree(SCALARS),
        }
    ),
)


@FUZZ
@given(
    st.lists(st.dictionaries(st.sampled_from(RULE_FIELDS), RULE_VALUES, max_size=12), max_size=3)
)
def test_rule_pack_loader_never_raises_anything_else(rules: list[dict[str, Any]]) -> None:
    """Random rule entries: a RuleSet or RuleError (file:line per problem)."""
    with _file(_dump({"rules": rules}).encode()) as path:
        message = refused(
            lambda: load_rules(RulesConfig(builtin=False, paths=(str(path),))), RuleError
        )
        problems = [p for p in (message or "").split("\n") if p and not p.endswith(":")]
        assert all(str(path) in p for p in problems), problems


COMPARE = {"aws_instance": {"instance_type": "InstanceType", "tags": "Tags"}}
JSON_TEXT = st.sampled_from(
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e999",
        "9" * 5000,
        "[" * 3000,
        "{",
        '"\\ud800"',
        "null",
        "0",
        '"x"',
    ]
)


@FUZZ
@given(_tree(SCALARS), st.lists(JSON_TEXT, max_size=3), st.binary(max_size=6))
def test_terraform_state_loader_never_raises_anything_else(
    attributes: Any, raw: list[str], noise: bytes
) -> None:
    """Random attributes, raw JSON oddities and stray bytes in a state: resources whose
    declared values are strict JSON (no NaN/Infinity), or StateError naming the file."""
    doc = {
        "version": 4,
        "resources": [
            {
                "mode": "managed",
                "type": "aws_instance",
                "name": "w",
                "instances": [{"attributes": attributes}],
            }
        ],
    }
    text = json.dumps(doc, default=str, allow_nan=True)
    if raw:
        text = text.replace('"w"', '"w", "extra": [' + ", ".join(raw) + "]", 1)
    text += noise.decode("latin-1")
    now = datetime.now(UTC)
    resources: list[Any] = []
    message = refused(
        lambda: resources.extend(parse_state(text, "fuzz.tfstate", COMPARE, now)), StateError
    )
    assert message is None or message.startswith("fuzz.tfstate")
    for resource in resources:
        json.dumps(resource.attributes, allow_nan=False)  # raises on NaN / Infinity

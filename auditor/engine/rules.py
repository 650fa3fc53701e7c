"""Loaded rules: what a rule is once validated, and the set the evaluator runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.checks import CheckSpec
from auditor.engine.conditions import Condition
from auditor.model import (
    JSON,
    Kind,
    RuleInfo,
    canonical_json,
    sha256_hex,
)

PARAM_TYPES = ("integer", "number", "string", "boolean", "list", "mapping")


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    type: str  # one of PARAM_TYPES
    default: Any
    description: str = ""
    min: float | None = None
    max: float | None = None
    pattern: str | None = None

    def to_json(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {"type": self.type, "default": self.default}
        if self.description:
            out["description"] = self.description
        for key in ("min", "max", "pattern"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class Rule:
    """A validated rule: what it says (`info`, shared with reports, alerts and plans) and how
    it judges (a check with its params, or a compiled declarative condition)."""

    info: RuleInfo
    params: Mapping[str, Any]  # effective values (defaults + config overrides)
    param_specs: Mapping[str, ParamSpec]
    source: str  # "file:line" of the rule's entry
    check: str | None = None
    spec: CheckSpec | None = field(default=None, compare=False, repr=False)
    condition: JSON = None  # the declarative condition as written, for `rules explain`
    compiled: Condition | None = field(default=None, compare=False, repr=False)
    message: str | None = None
    # attribute names the rule reads; a resource with one of them unavailable is `unknown`
    reads: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        return self.info.id

    def document(self) -> dict[str, JSON]:
        """Everything that decides what the rule does or says: hashed into RuleSet.version."""
        info = self.info
        return {
            "id": info.id,
            "title": info.title,
            "severity": info.severity.value,
            "resource": ([k.value for k in info.kinds] if len(info.kinds) > 1 else info.kind.value),
            "description": info.description,
            "rationale": info.rationale,
            "remediation": {
                "text": info.remediation,
                "action": info.action,
                "source_caused": info.source_caused,
            },
            "frameworks": {k: list(v) for k, v in info.frameworks.items()},
            "params": {
                name: {**spec.to_json(), "value": self.params[name]}
                for name, spec in self.param_specs.items()
            },
            "check": self.check,
            "fails_when": self.condition,
            "message": self.message,
        }


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    by_kind: Mapping[Kind, tuple[Rule, ...]] = field(init=False, repr=False)
    _by_id: Mapping[str, Rule] = field(init=False, repr=False)
    version: str = field(init=False)

    def __post_init__(self) -> None:
        by_kind: dict[Kind, list[Rule]] = {}
        for rule in self.rules:
            for kind in rule.info.applies_to:
                by_kind.setdefault(kind, []).append(rule)
        object.__setattr__(self, "by_kind", {k: tuple(v) for k, v in by_kind.items()})
        object.__setattr__(self, "_by_id", {r.id: r for r in self.rules})
        documents = [r.document() for r in sorted(self.rules, key=lambda r: r.id)]
        object.__setattr__(self, "version", sha256_hex(canonical_json(documents))[:16])

    def get(self, rule_id: str) -> Rule | None:
        return self._by_id.get(rule_id)

    def info(self, rule_id: str) -> RuleInfo:
        """RuleInfo of a loaded rule; KeyError when no such rule is loaded."""
        return self._by_id[rule_id].info

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)

    def __len__(self) -> int:
        return len(self.rules)

"""The rule engine: load and validate rule packs, evaluate a snapshot, track findings.

Everything here is pure (no AWS, no database, no wall clock): the same snapshot, rules,
exemptions and clock always give the same findings, so any evaluation can be replayed.
"""

from __future__ import annotations

from auditor.engine.delta import compute_delta
from auditor.engine.errors import RuleError
from auditor.engine.evaluate import evaluate, scope_ref
from auditor.engine.exemptions import (
    Exemption,
    TagPolicy,
    check_exemptions,
    expired_exemptions,
    load_exemptions,
)
from auditor.engine.history import baseline_arns, baseline_kinds, build_history, restrict
from auditor.engine.loader import builtin_rules_dir, load_rules
from auditor.engine.rules import ParamSpec, Rule, RuleSet

__all__ = [
    "Exemption",
    "ParamSpec",
    "Rule",
    "RuleError",
    "RuleSet",
    "TagPolicy",
    "baseline_arns",
    "baseline_kinds",
    "build_history",
    "builtin_rules_dir",
    "check_exemptions",
    "compute_delta",
    "evaluate",
    "expired_exemptions",
    "load_exemptions",
    "load_rules",
    "restrict",
    "scope_ref",
]

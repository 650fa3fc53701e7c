"""Evaluation proportional to change: which (rule, resource) results the last cycle already has.

A result can be carried over only when it provably cannot differ:
- the rule is declarative (a condition over the resource's own attributes and tags: no
  related resource, no history), its definition (params, condition, severity, message) is
  the one the previous cycle evaluated, and it has no `age-greater-than` (time-based rules are
  re-evaluated every cycle: their result moves with the clock, not with the resource);
- the resource's configuration (attributes, tags, unavailable) equals the previous
  snapshot's;
- the previous cycle was complete (no gap: every previous result is an observed one).
Exemptions are applied afresh every cycle (a finding reused as fail may become exempt, or an
exemption expire). Python checks read related resources, history and the clock, so they
always run. Everything here is pure.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from auditor.engine.rules import Rule, RuleSet
from auditor.model import Finding, Snapshot

TIME_OPERATORS = ("age-greater-than",)


@dataclass(frozen=True, slots=True)
class Reuse:
    """What evaluate() may take from the previous cycle instead of recomputing."""

    unchanged: frozenset[str]  # ARNs configured exactly as in the previous snapshot
    rules: frozenset[str]  # rule ids whose previous results stand for unchanged resources
    previous: Mapping[tuple[str, str], Finding]  # (rule id, ARN) -> finding; absent: passed


def rule_fingerprint(rule: Rule) -> str:
    """Everything in a rule that a declarative result depends on."""
    text = json.dumps(
        [
            rule.id,
            rule.info.severity.value,
            [k.value for k in rule.info.applies_to],
            rule.params,
            rule.condition,
            rule.message,
            rule.info.title,
        ],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprints(rules: RuleSet) -> dict[str, str]:
    """Each rule's fingerprint by id: what must be equal for its results to be reused."""
    return {rule.id: rule_fingerprint(rule) for rule in rules.rules}


def _time_based(rule: Rule) -> bool:
    text = json.dumps(rule.condition, default=str)
    return any(op in text for op in TIME_OPERATORS)


def reusable_rules(rules: RuleSet, previous: Mapping[str, str]) -> frozenset[str]:
    """The rules whose previous results may be reused: declarative, not time-based, unchanged."""
    return frozenset(
        rule.id
        for rule in rules.rules
        if rule.spec is None
        and rule.compiled is not None
        and not _time_based(rule)
        and previous.get(rule.id) == rule_fingerprint(rule)
    )


def plan_reuse(
    snapshot: Snapshot,
    previous: Snapshot | None,
    rules: RuleSet,
    previous_fingerprints: Mapping[str, str],
    previous_findings: Mapping[str, Finding],
) -> Reuse | None:
    """None when nothing can be reused (no previous cycle, or it had gaps)."""
    if previous is None or previous.gaps:
        return None
    reusable = reusable_rules(rules, previous_fingerprints)
    if not reusable:
        return None
    before = {r.arn: r for r in previous.resources}
    unchanged = frozenset(
        r.arn
        for r in snapshot.resources
        if (old := before.get(r.arn)) is not None
        and old.kind is r.kind
        and old.attributes == r.attributes
        and old.tags == r.tags
        and old.unavailable == r.unavailable
    )
    findings = {
        (f.rule_id, f.resource.arn): f for f in previous_findings.values() if f.rule_id in reusable
    }
    return Reuse(unchanged=unchanged, rules=reusable, previous=findings)

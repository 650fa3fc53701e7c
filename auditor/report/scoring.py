"""Compliance scores: per rule, per framework control, per account, and overall.

score = passed / (evaluated - exempt). Exempt resources are outside the score (they are
listed with their owner and expiry); unknown results count as NOT passing, so a report
from a cycle that could not see everything never looks better than it is. A score with
nothing to score is None ("n/a"), never 100%.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from auditor.model import JSON, Finding, RuleInfo, RuleStats, Status

SCORE_METHOD = (
    "score = passed / (evaluated - exempt); unknown results (could not be checked) count as "
    "not passing; exempt resources are excluded and listed separately"
)
FRAMEWORK_ORDER = ("NIST 800-53", "CIS", "PCI DSS v4", "SOC 2")


@dataclass(frozen=True, slots=True)
class Tally:
    evaluated: int = 0
    failed: int = 0
    exempt: int = 0
    unknown: int = 0

    @property
    def passed(self) -> int:
        return max(0, self.evaluated - self.failed - self.exempt - self.unknown)

    @property
    def score(self) -> float | None:
        scored = self.evaluated - self.exempt
        if scored <= 0:
            return None
        return round(self.passed / scored, 4)

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.evaluated + other.evaluated,
            self.failed + other.failed,
            self.exempt + other.exempt,
            self.unknown + other.unknown,
        )

    def to_json(self) -> dict[str, JSON]:
        return {
            "evaluated": self.evaluated,
            "passed": self.passed,
            "failed": self.failed,
            "exempt": self.exempt,
            "unknown": self.unknown,
            "score": self.score,
        }


def rule_tallies(stats: Iterable[RuleStats], findings: Iterable[Finding]) -> dict[str, Tally]:
    """Per rule. Findings the stats miss (a buggy stage) still count, as not passing."""
    from_findings: dict[str, Tally] = {}
    for f in findings:
        t = from_findings.get(f.rule_id, Tally())
        from_findings[f.rule_id] = t + _one(f.status)
    out: dict[str, Tally] = {}
    for s in stats:
        out[s.rule_id] = Tally(s.evaluated, s.failed, s.exempt, s.unknown)
    for rule_id, seen in from_findings.items():
        have = out.get(rule_id, Tally())
        out[rule_id] = Tally(
            max(have.evaluated, seen.evaluated),
            max(have.failed, seen.failed),
            max(have.exempt, seen.exempt),
            max(have.unknown, seen.unknown),
        )
    return out


def _one(status: Status) -> Tally:
    if status is Status.FAIL:
        return Tally(1, failed=1)
    if status is Status.EXEMPT:
        return Tally(1, exempt=1)
    return Tally(1, unknown=1)


def framework_scores(
    rules: Mapping[str, RuleInfo], tallies: Mapping[str, Tally]
) -> list[dict[str, JSON]]:
    """Every framework any rule maps to, the four headline ones first, each control scored."""
    controls: dict[str, dict[str, list[str]]] = {}
    for rule in rules.values():
        for framework, ids in rule.frameworks.items():
            for control in ids:
                controls.setdefault(framework, {}).setdefault(control, []).append(rule.id)
    names = [f for f in FRAMEWORK_ORDER if f in controls]
    names += sorted(f for f in controls if f not in FRAMEWORK_ORDER)
    out: list[dict[str, JSON]] = []
    for framework in names:
        rows: list[dict[str, JSON]] = []
        total = Tally()
        for control in sorted(controls[framework], key=_natural):
            rule_ids = sorted(set(controls[framework][control]))
            t = sum((tallies.get(r, Tally()) for r in rule_ids), Tally())
            total = total + t
            rows.append({"control": control, "rules": list(rule_ids), **t.to_json()})
        out.append({"framework": framework, **total.to_json(), "controls": rows})
    return out


def account_scores(
    accounts: Iterable[str], evaluated: Mapping[str, int], findings: Iterable[Finding]
) -> list[dict[str, JSON]]:
    """Per account. Without a known denominator the score is None, never a guess."""
    seen: dict[str, Tally] = {}
    for f in findings:
        acct = f.resource.account
        seen[acct] = seen.get(acct, Tally()) + _one(f.status)
    out: list[dict[str, JSON]] = []
    for acct in sorted(set(accounts) | set(seen) | set(evaluated)):
        found = seen.get(acct, Tally())
        if acct in evaluated:
            # unknown findings for unlisted resources are not in the resource count
            total = max(evaluated[acct] + found.unknown, found.evaluated)
            t = Tally(total, found.failed, found.exempt, found.unknown)
            out.append({"account": acct, **t.to_json()})
        else:
            out.append(
                {
                    "account": acct,
                    "evaluated": None,
                    "passed": None,
                    "failed": found.failed,
                    "exempt": found.exempt,
                    "unknown": found.unknown,
                    "score": None,
                }
            )
    return out


def _natural(text: str) -> tuple[tuple[int, str], ...]:
    import re

    return tuple((int(p), "") if p.isdigit() else (0, p) for p in re.split(r"(\d+)", text) if p)

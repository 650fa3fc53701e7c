"""(snapshot, rules, exemptions, clock) -> findings and per-rule counts. Pure: no I/O.

Fail closed, in three ways:
- a CollectionGap covering a rule's kind in an (account, region) yields ONE `unknown`
  finding for that scope (placeholder resource `arn:aws:<service>:<region>:<account>:*`);
  resources that were seen there are still evaluated (a failure seen is a failure);
- a resource whose `unavailable` lists an attribute the rule reads is `unknown`;
- a check that cannot see a related resource (e.g. the AMI, with ec2.image in a gap)
  returns `unknown`.
Unknown is never counted as passing. Exemptions only turn `fail` into `exempt`.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

from auditor.checks.result import PASS, CheckResult, Outcome
from auditor.engine.conditions import Condition, EvalContext, Indeterminate
from auditor.engine.exemptions import Exemption, ExemptionIndex, TagPolicy
from auditor.engine.rules import Rule, RuleSet
from auditor.model import (
    JSON,
    Clock,
    CollectionGap,
    Evaluation,
    Finding,
    History,
    Kind,
    Resource,
    ResourceRef,
    RuleStats,
    Snapshot,
    SnapshotView,
    Status,
)


class _LazyView(SnapshotView):
    """A SnapshotView whose indexes are built on first use: most rules never need them."""

    def __init__(self, snapshot: Snapshot, history: History | None = None) -> None:
        # no super().__init__: building every index up front is what this class avoids
        self.snapshot = snapshot
        self.history = history
        self._memo: dict[str, Any] = {}
        self._arns: dict[str, Resource] | None = None
        self._ids: dict[tuple[Kind, str, str, str], Resource] | None = None
        self._kinds: dict[Kind, tuple[Resource, ...]] | None = None

    def get(self, arn: str) -> Resource | None:
        if self._arns is None:
            self._arns = {r.arn: r for r in self.snapshot.resources}
        return self._arns.get(arn)

    def find(self, kind: Kind, account: str, region: str, resource_id: str) -> Resource | None:
        if self._ids is None:
            self._ids = {(r.kind, r.account, r.region, r.id): r for r in self.snapshot.resources}
        return self._ids.get((kind, account, region, resource_id))

    def of_kind(self, kind: Kind) -> tuple[Resource, ...]:
        if self._kinds is None:
            grouped: dict[Kind, list[Resource]] = {}
            for r in self.snapshot.resources:
                grouped.setdefault(r.kind, []).append(r)
            self._kinds = {k: tuple(v) for k, v in grouped.items()}
        return self._kinds.get(kind, ())


def scope_ref(kind: Kind, account: str, region: str) -> ResourceRef:
    """The placeholder resource of an unknown finding that stands for a whole scope."""
    service = kind.value.split(".", 1)[0]
    return ResourceRef(
        arn=f"arn:aws:{service}:{region}:{account}:*",
        id="*",
        kind=kind,
        account=account,
        region=region,
    )


class _Counts:
    __slots__ = ("evaluated", "exempt", "failed", "unknown")

    def __init__(self, size: int) -> None:
        self.evaluated = [0] * size
        self.failed = [0] * size
        self.exempt = [0] * size
        self.unknown = [0] * size


def evaluate(
    snapshot: Snapshot,
    rules: RuleSet,
    exemptions: Sequence[Exemption],
    clock: Clock,
    *,
    history: History | None = None,
    tag_policy: TagPolicy | None = None,
) -> Evaluation:
    """Findings and per-rule counts. `history` (baselines, previous cycle) feeds the drift
    rules; without it they see every resource for the first time and report no drift.
    `tag_policy` says which rules resource tags may exempt (None: no tag exemptions)."""
    # Evaluation allocates many small acyclic objects (findings, evidence); with a large
    # snapshot alive, the cyclic GC would rescan it over and over. Nothing here makes cycles.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _evaluate(snapshot, rules, exemptions, clock, history, tag_policy)
    finally:
        if was_enabled:
            gc.enable()


def _evaluate(
    snapshot: Snapshot,
    rules: RuleSet,
    exemptions: Sequence[Exemption],
    clock: Clock,
    history: History | None,
    tag_policy: TagPolicy | None = None,
) -> Evaluation:
    now = clock.now()
    view = _LazyView(snapshot, history)
    ctx = EvalContext(now=now, clock=clock)
    index = ExemptionIndex(exemptions, now, tag_policy)
    position = {rule.id: i for i, rule in enumerate(rules.rules)}
    # per kind: (index, rule, check function + its params, or compiled condition, reads)
    plans = {
        kind: tuple(
            (position[r.id], r, r.check_fn, dict(r.params), r.compiled, r.reads) for r in kind_rules
        )
        for kind, kind_rules in rules.by_kind.items()
    }
    counts = _Counts(len(rules.rules))
    failed, unknown, exempt = counts.failed, counts.unknown, counts.exempt
    findings: list[Finding] = []
    resource_gaps = {g.resource_arn: g for g in snapshot.gaps if g.resource_arn is not None}
    per_kind: dict[Kind, int] = {}

    for resource in snapshot.resources:
        plan = plans.get(resource.kind)
        if plan is None:
            continue
        per_kind[resource.kind] = per_kind.get(resource.kind, 0) + 1
        missing = resource.unavailable
        ref: ResourceRef | None = None
        for i, rule, check, params, condition, reads in plan:
            if missing and reads and not reads.isdisjoint(missing):
                result = _unavailable(resource, reads, resource_gaps.get(resource.arn))
            elif check is not None:
                result = check(resource, params, view, clock)
                if result is PASS or result.outcome is Outcome.PASS:
                    continue
            else:
                assert condition is not None
                try:
                    if not condition.predicate(resource.attributes, resource.tags, ctx):
                        continue
                    result = _failed(rule, condition, resource)
                except Indeterminate as exc:
                    result = CheckResult(
                        Outcome.UNKNOWN,
                        str(exc),
                        condition.evidence(resource.attributes, resource.tags),
                    )
            if ref is None:
                ref = resource.ref
            if result.outcome is Outcome.UNKNOWN:
                unknown[i] += 1
                findings.append(_finding(rule, ref, Status.UNKNOWN, result))
                continue
            exemption = index.find(rule.id, ref, rule.severity)
            if exemption is None:
                failed[i] += 1
                findings.append(_finding(rule, ref, Status.FAIL, result))
            else:
                exempt[i] += 1
                findings.append(_finding(rule, ref, Status.EXEMPT, result, exemption))

    for i, rule in enumerate(rules.rules):
        for kind in rule.applies_to:
            counts.evaluated[i] += per_kind.get(kind, 0)
    findings.extend(_gap_findings(snapshot.gaps, rules, position, counts))
    stats = tuple(
        RuleStats(
            rule_id=rule.id,
            evaluated=counts.evaluated[i],
            failed=failed[i],
            exempt=exempt[i],
            unknown=unknown[i],
        )
        for i, rule in enumerate(rules.rules)
    )
    return Evaluation(
        snapshot_id=snapshot.id, evaluated_at=now, findings=tuple(findings), stats=stats
    )


def _finding(
    rule: Rule,
    ref: ResourceRef,
    status: Status,
    result: CheckResult,
    exemption: Exemption | None = None,
) -> Finding:
    return Finding(
        rule_id=rule.id,
        severity=result.severity or rule.severity,
        status=status,
        resource=ref,
        message=result.message or rule.message or rule.title,
        evidence=result.evidence,
        exemption=exemption.ref if exemption is not None else None,
    )


def _failed(rule: Rule, condition: Condition, resource: Resource) -> CheckResult:
    return CheckResult(
        Outcome.FAIL,
        rule.message or rule.title,
        condition.evidence(resource.attributes, resource.tags),
    )


def _unavailable(
    resource: Resource, reads: frozenset[str], gap: CollectionGap | None
) -> CheckResult:
    keys = sorted(reads.intersection(resource.unavailable))
    evidence: dict[str, JSON] = {"unavailable": keys}
    if gap is not None:
        evidence["gap"] = gap.to_json()
    return CheckResult(
        Outcome.UNKNOWN, f"attribute {', '.join(keys)} could not be read this cycle", evidence
    )


def _gap_findings(
    gaps: Sequence[CollectionGap], rules: RuleSet, position: dict[str, int], counts: _Counts
) -> list[Finding]:
    """One unknown finding per (rule, scope placeholder) whose kind a gap covers.

    A rule over several kinds gets one finding per placeholder ARN (per service prefix), so
    two kinds of one service in one gap do not make two findings with the same id.
    """
    scopes: dict[tuple[str, str], tuple[Kind, str, str, list[CollectionGap]]] = {}
    for gap in gaps:
        if gap.resource_arn is not None:
            continue
        for kind in gap.kinds:
            for rule in rules.by_kind.get(kind, ()):
                arn = scope_ref(kind, gap.account, gap.region).arn
                entry = scopes.setdefault((rule.id, arn), (kind, gap.account, gap.region, []))
                if not any(g is gap for g in entry[3]):
                    entry[3].append(gap)
    out: list[Finding] = []
    for (rule_id, _), (kind, account, region, found) in scopes.items():
        i = position[rule_id]
        rule = rules.rules[i]
        counts.evaluated[i] += 1
        counts.unknown[i] += 1
        first = found[0]
        out.append(
            Finding(
                rule_id=rule_id,
                severity=rule.severity,
                status=Status.UNKNOWN,
                resource=scope_ref(kind, account, region),
                message=(
                    f"{kind.value} in {account}/{region} could not be collected "
                    f"({first.operation}: {first.error_code}): not known to pass"
                ),
                evidence={"gaps": [g.to_json() for g in found]},
            )
        )
    return out

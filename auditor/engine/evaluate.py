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
from collections.abc import Collection, Sequence

from auditor.checks.result import PASS, CheckResult, Outcome
from auditor.engine.conditions import Condition, EvalContext, Indeterminate
from auditor.engine.exemptions import Exemption, ExemptionIndex, TagPolicy
from auditor.engine.reuse import Reuse
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
    only: Collection[str] | None = None,
    reuse: Reuse | None = None,
) -> Evaluation:
    """Findings and per-rule counts. `history` (baselines, previous cycle) feeds the drift
    rules; without it they see every resource for the first time and report no drift.
    `tag_policy` says which rules resource tags may exempt (None: no tag exemptions).
    `only` (ARNs) judges just those resources, with the whole snapshot still visible to the
    checks (a micro-cycle); the snapshot's gaps are then not turned into findings.
    `reuse` (engine/reuse.py) carries over the previous cycle's results where they provably
    cannot differ; the findings are the same as without it."""
    # Evaluation allocates many small acyclic objects (findings, evidence); with a large
    # snapshot alive, the cyclic GC would rescan it over and over. Nothing here makes cycles.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _evaluate(snapshot, rules, exemptions, clock, history, tag_policy, only, reuse)
    finally:
        if was_enabled:
            gc.enable()


def _evaluate(  # noqa: PLR0915 - one pass over rules x resources; splitting costs speed
    snapshot: Snapshot,
    rules: RuleSet,
    exemptions: Sequence[Exemption],
    clock: Clock,
    history: History | None,
    tag_policy: TagPolicy | None = None,
    only: Collection[str] | None = None,
    reuse: Reuse | None = None,
) -> Evaluation:
    now = clock.now()
    view = SnapshotView(snapshot, history)
    ctx = EvalContext(now=now, clock=clock)
    index = ExemptionIndex(exemptions, now, tag_policy)
    position = {rule.id: i for i, rule in enumerate(rules.rules)}
    # per kind: (index, rule, check function + its params, or compiled condition, reads)
    plans = {
        kind: tuple(
            (
                position[r.id],
                r,
                r.spec.fn if r.spec is not None else None,
                dict(r.params),
                r.compiled,
                r.reads,
            )
            for r in kind_rules
        )
        for kind, kind_rules in rules.by_kind.items()
    }
    counts = _Counts(len(rules.rules))
    failed, unknown, exempt = counts.failed, counts.unknown, counts.exempt
    findings: list[Finding] = []
    resource_gaps = {g.resource_arn: g for g in snapshot.gaps if g.resource_arn is not None}
    per_kind: dict[Kind, int] = {}

    judged = (
        snapshot.resources if only is None else [r for r in snapshot.resources if r.arn in only]
    )
    for resource in judged:
        plan = plans.get(resource.kind)
        if plan is None:
            continue
        per_kind[resource.kind] = per_kind.get(resource.kind, 0) + 1
        missing = resource.unavailable
        ref: ResourceRef | None = None
        same = reuse is not None and resource.arn in reuse.unchanged
        for i, rule, check, params, condition, reads in plan:
            if same and reuse is not None and rule.id in reuse.rules:
                reused = _reused(reuse.previous.get((rule.id, resource.arn)))
                if reused is None:
                    continue
                result = reused
            elif missing and reads and not reads.isdisjoint(missing):
                result = _unavailable(resource, reads, resource_gaps.get(resource.arn))
            elif check is not None:
                result = check(resource, params, view, clock)
                if result is PASS or result.outcome is Outcome.PASS:
                    continue
            else:
                found = _condition(rule, condition, resource, ctx)
                if found is None:
                    continue
                result = found
            if ref is None:
                ref = resource.ref
            if result.outcome is Outcome.UNKNOWN:
                unknown[i] += 1
                findings.append(_finding(rule, ref, Status.UNKNOWN, result))
                continue
            exemption = index.find(rule.id, ref, rule.info.severity, _principals(result))
            if exemption is None:
                failed[i] += 1
                findings.append(_finding(rule, ref, Status.FAIL, result))
            else:
                exempt[i] += 1
                findings.append(_finding(rule, ref, Status.EXEMPT, result, exemption))

    for i, rule in enumerate(rules.rules):
        for kind in rule.info.applies_to:
            counts.evaluated[i] += per_kind.get(kind, 0)
    if only is None:
        findings.extend(_gap_findings(snapshot.gaps, rules, position, counts))
        findings.extend(_absent_findings(snapshot, rules, position, counts))
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


def _principals(result: CheckResult) -> tuple[str, ...]:
    """The callers a finding is about (access.* rules), for exemptions by principal."""
    value = result.evidence.get("principals")
    if isinstance(value, list):
        return tuple(str(p) for p in value)
    return ()


def _finding(
    rule: Rule,
    ref: ResourceRef,
    status: Status,
    result: CheckResult,
    exemption: Exemption | None = None,
) -> Finding:
    return Finding(
        rule_id=rule.id,
        severity=result.severity or rule.info.severity,
        status=status,
        resource=ref,
        message=result.message or rule.message or rule.info.title,
        evidence=result.evidence,
        exemption=exemption.ref if exemption is not None else None,
    )


def _condition(
    rule: Rule, condition: Condition | None, resource: Resource, ctx: EvalContext
) -> CheckResult | None:
    """A declarative rule's result; None when it passes."""
    assert condition is not None  # a rule has a check or a condition
    try:
        if not condition.predicate(resource.attributes, resource.tags, ctx):
            return None
        return _failed(rule, condition, resource)
    except Indeterminate as exc:
        return CheckResult(
            Outcome.UNKNOWN, str(exc), condition.evidence(resource.attributes, resource.tags)
        )


def _reused(before: Finding | None) -> CheckResult | None:
    """The check result behind a previous finding (an exempt one had failed); None: passed."""
    if before is None:
        return None
    outcome = Outcome.UNKNOWN if before.status is Status.UNKNOWN else Outcome.FAIL
    return CheckResult(outcome, before.message, before.evidence, before.severity)


def _failed(rule: Rule, condition: Condition, resource: Resource) -> CheckResult:
    return CheckResult(
        Outcome.FAIL,
        rule.message or rule.info.title,
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
                severity=rule.info.severity,
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


def _absent_findings(
    snapshot: Snapshot, rules: RuleSet, position: dict[str, int], counts: _Counts
) -> list[Finding]:
    """One unknown finding per rule for a resource a gap names that is not in the snapshot
    (e.g. a template a group names that could not be collected): its rules cannot pass."""
    named = [g for g in snapshot.gaps if g.resource_arn is not None]
    if not named:
        return []
    present = {r.arn for r in snapshot.resources}
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for gap in named:
        arn = str(gap.resource_arn)
        if arn in present:
            continue
        for kind in gap.kinds:
            ref = ResourceRef(
                arn=arn,
                id=arn.rsplit("/", 1)[-1],
                kind=kind,
                account=gap.account,
                region=gap.region,
            )
            for rule in rules.by_kind.get(kind, ()):
                if (rule.id, arn) in seen:
                    continue
                seen.add((rule.id, arn))
                i = position[rule.id]
                counts.evaluated[i] += 1
                counts.unknown[i] += 1
                out.append(
                    Finding(
                        rule_id=rule.id,
                        severity=rule.info.severity,
                        status=Status.UNKNOWN,
                        resource=ref,
                        message=(
                            f"{kind.value} {ref.id} could not be collected "
                            f"({gap.operation}: {gap.error_code}): not known to pass"
                        ),
                        evidence={"gaps": [gap.to_json()]},
                    )
                )
    return out

"""The finding lifecycle across cycles, including the fail-closed rule for gaps."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from auditor.engine import RuleSet, compute_delta, evaluate, load_rules
from auditor.model import (
    CollectionGap,
    Evaluation,
    FindingDelta,
    FixedClock,
    Kind,
    Resource,
    Scope,
    Snapshot,
    Status,
    TrackedFinding,
)
from auditor.settings import RulesConfig
from tests.checks.resources import ACCOUNT, REGION, gap, instance
from tests.conftest import NOW

_gaps: dict[str, tuple[CollectionGap, ...]] = {}  # snapshot id -> its gaps
T1, T2, T3 = NOW, NOW + timedelta(minutes=15), NOW + timedelta(minutes=30)
KEYED = instance(KeyName="ops")


def cycle(
    at: datetime, resources: tuple[Resource, ...], gaps: tuple[CollectionGap, ...] = ()
) -> Evaluation:
    rule = load_rules(RulesConfig()).get("ec2.ssh_keypair_attached")
    assert rule is not None
    snap = Snapshot(f"s-{at:%H%M}", at, at, Scope((ACCOUNT,), (REGION,), ()), resources, gaps, {})
    _gaps[snap.id] = gaps
    return evaluate(snap, RuleSet((rule,)), (), FixedClock(at))


def advance(previous: FindingDelta | None, evaluation: Evaluation, at: datetime) -> FindingDelta:
    open_before = {t.id: t for t in previous.open} if previous else {}
    return compute_delta(open_before, evaluation, at, gaps=_gaps.get(evaluation.snapshot_id, ()))


def test_new_then_still_open_then_resolved() -> None:
    """Cycle 1 new; cycle 2 still open (2 cycles, first_seen kept); cycle 3 resolved."""
    one = advance(None, cycle(T1, (KEYED,)), T1)
    assert [(t.first_seen, t.last_seen, t.consecutive_cycles) for t in one.new] == [(T1, T1, 1)]
    assert (one.still_open, one.resolved) == ((), ())

    two = advance(one, cycle(T2, (KEYED,)), T2)
    assert two.new == ()
    assert [(t.first_seen, t.last_seen, t.consecutive_cycles) for t in two.still_open] == [
        (T1, T2, 2)
    ]

    three = advance(two, cycle(T3, (instance(),)), T3)
    assert (three.new, three.still_open) == ((), ())
    (resolved,) = three.resolved
    assert (resolved.id, resolved.resolved_at, resolved.first_seen) == (one.new[0].id, T3, T1)


def test_finding_id_is_stable_across_cycles() -> None:
    """The same rule on the same ARN keeps its id: Slack and the store can track it."""
    first = cycle(T1, (KEYED,)).findings[0]
    again = cycle(T2, (replace(KEYED, observed_at=T2),)).findings[0]
    assert first.id == again.id


def test_gap_does_not_resolve_a_previous_finding() -> None:
    """Fail closed: an instance we could not list this cycle is not 'fixed'; it becomes unknown."""
    one = advance(None, cycle(T1, (KEYED,)), T1)
    two = advance(one, cycle(T2, (), gaps=(gap(Kind.EC2_INSTANCE),)), T2)
    assert two.resolved == ()
    carried = [t for t in two.still_open if t.id == one.new[0].id]
    assert len(carried) == 1
    assert carried[0].finding.status is Status.UNKNOWN
    assert carried[0].finding.evidence["previous_status"] == "fail"
    # not observed this cycle: last_seen and consecutive_cycles do not move
    assert (carried[0].last_seen, carried[0].consecutive_cycles) == (T1, 1)
    # the scope placeholder itself is new
    assert [t.finding.resource.id for t in two.new] == ["*"]


def test_gap_in_all_regions_does_not_resolve() -> None:
    """A gap with region "*" (e.g. an account we could not assume into) covers every region."""
    one = advance(None, cycle(T1, (KEYED,)), T1)
    two = advance(one, cycle(T2, (), gaps=(gap(Kind.EC2_INSTANCE, region="*"),)), T2)
    assert two.resolved == ()


def test_gap_elsewhere_still_resolves() -> None:
    """A gap in another region or kind does not keep an unrelated finding open."""
    one = advance(None, cycle(T1, (KEYED,)), T1)
    other = (gap(Kind.EC2_INSTANCE, region="eu-west-1"), gap(Kind.ECS_TASK))
    two = advance(one, cycle(T2, (), gaps=other), T2)
    assert [t.id for t in two.resolved] == [one.new[0].id]


def test_scope_unknown_resolves_when_the_gap_closes() -> None:
    """Once the data is readable again the placeholder goes, and real findings show."""
    one = advance(None, cycle(T1, (), gaps=(gap(Kind.EC2_INSTANCE),)), T1)
    two = advance(one, cycle(T2, (KEYED,)), T2)
    assert [t.finding.resource.id for t in two.resolved] == ["*"]
    assert [t.finding.status for t in two.new] == [Status.FAIL]


def test_tracked_findings_roundtrip_fields() -> None:
    """TrackedFinding keeps the finding itself so the store can persist it as is."""
    one = advance(None, cycle(T1, (KEYED,)), T1)
    tracked: TrackedFinding = one.new[0]
    assert tracked.finding.rule_id == "ec2.ssh_keypair_attached"
    assert tracked.resolved_at is None

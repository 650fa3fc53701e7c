"""What a gap hides, as a matrix: gap level x previous finding state x rule kind.

For every rule family (one rule per resource kind, condition and check rules, drift
rules), a finding open before a cycle whose gap intersects its scope stays open as
`unknown` with its first-seen date, never exempt; a gap anywhere else lets it resolve.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from auditor.engine import RuleSet, compute_delta, evaluate, load_rules
from auditor.model import (
    ANY,
    CollectionGap,
    ExemptionRef,
    Finding,
    FixedClock,
    GapLevel,
    Kind,
    ResourceRef,
    Scope,
    Service,
    Severity,
    Snapshot,
    Status,
    TrackedFinding,
)
from auditor.settings import RulesConfig
from tests.conftest import NOW

ACCOUNT, OTHER_ACCOUNT = "111111111111", "222222222222"
REGION, OTHER_REGION = "us-east-1", "eu-west-1"
FIRST_SEEN = NOW - timedelta(days=9)
THEN = NOW + timedelta(minutes=15)

# one rule per kind and family: conditions, checks reading related data, drift
RULES = (
    "ec2.ssh_keypair_attached",
    "lt.ssh_keypair",
    "asg.ami_age",
    "drift.ecs_service_modified",
    "ecs.env_secrets",
    "ecr.tag_mutable",
    "iac.missing",
    "eks.nodegroup_remote_access",
)


def _rule_kind(rule_id: str) -> Kind:
    rule = load_rules(RulesConfig()).get(rule_id)
    assert rule is not None, rule_id
    return rule.info.applies_to[0]


def _arn(kind: Kind, account: str = ACCOUNT, region: str = REGION, rid: str = "r-1") -> str:
    return f"arn:aws:{kind.service.value}:{region}:{account}:{kind.value}/{rid}"


def _kinds(service: Service) -> tuple[Kind, ...]:
    return tuple(k for k in Kind if k.service is service)


def _gap(
    kind: Kind,
    *,
    account: str = ACCOUNT,
    region: str = REGION,
    kinds: tuple[Kind, ...] | None = None,
    service: Service | None = None,
    arn: str | None = None,
) -> CollectionGap:
    service = service or kind.service
    return CollectionGap(
        account=account,
        region=region,
        service=service,
        kinds=kinds if kinds is not None else _kinds(service),
        operation="sts:AssumeRole",
        error_code="AccessDenied",
        message="not authorized",
        resource_arn=arn,
    )


def _other_service(kind: Kind) -> Service:
    return Service.ECS if kind.service is not Service.ECS else Service.EC2


def _other_kind(kind: Kind) -> Kind:
    return next(k for k in _kinds(kind.service) if k is not kind)


# level -> gaps that intersect the finding's scope (by kind of the finding's resource)
HIDING = {
    GapLevel.ORGANIZATION: lambda k: (_gap(k, account=ANY, region=ANY),),
    GapLevel.ACCOUNT: lambda k: (_gap(k, region=ANY),),
    # a dead region: every service read from it (Terraform state read there, for iac.*)
    "region": lambda k: tuple(
        _gap(k, service=s, kinds=_kinds(s))
        for s in dict.fromkeys((Service.EC2, Service.ECS, Service.EKS, Service.ECR, k.service))
    ),
    GapLevel.SERVICE: lambda k: (_gap(k),),
    GapLevel.KIND: lambda k: (_gap(k, kinds=(k,)),),
    GapLevel.RESOURCE: lambda k: (_gap(k, kinds=(k,), arn=_arn(k)),),
}
# level -> gaps of the same level that do NOT intersect it
ELSEWHERE = {
    GapLevel.ACCOUNT: lambda k: (_gap(k, account=OTHER_ACCOUNT, region=ANY),),
    "region": lambda k: (_gap(k, region=OTHER_REGION),),
    GapLevel.SERVICE: lambda k: (
        _gap(k, service=_other_service(k), kinds=_kinds(_other_service(k))),
    ),
    GapLevel.KIND: lambda k: (_gap(k, kinds=(_other_kind(k),)),),
    GapLevel.RESOURCE: lambda k: (_gap(k, kinds=(k,), arn=_arn(k, rid="r-2")),),
}

EXEMPTION = ExemptionRef("config", "accepted risk", "team-x", "2027-01-31")


def _previous(rule_id: str, kind: Kind, status: Status) -> TrackedFinding:
    finding = Finding(
        rule_id=rule_id,
        severity=Severity.HIGH,
        status=status,
        resource=ResourceRef(_arn(kind), "r-1", kind, ACCOUNT, REGION, {"team": "x"}),
        message="seen failing",
        evidence={"what": "was seen"},
        exemption=EXEMPTION if status is Status.EXEMPT else None,
    )
    return TrackedFinding(finding, FIRST_SEEN, NOW, consecutive_cycles=3)


def _next_cycle(rule_id: str, previous: TrackedFinding, gaps: tuple[CollectionGap, ...]):  # type: ignore[no-untyped-def]
    """A cycle in which the resource is not in the snapshot, with `gaps`."""
    rule = load_rules(RulesConfig()).get(rule_id)
    assert rule is not None
    snapshot = Snapshot(
        "s-2", THEN, THEN, Scope((ACCOUNT,), (REGION,), tuple(Service)[:4]), (), gaps, {}
    )
    evaluation = evaluate(snapshot, RuleSet((rule,)), (), FixedClock(THEN))
    return compute_delta({previous.id: previous}, evaluation, THEN, gaps=gaps)


STATES = (Status.FAIL, Status.EXEMPT, Status.UNKNOWN)


@pytest.mark.parametrize("rule_id", RULES)
@pytest.mark.parametrize("state", STATES, ids=lambda s: s.value)
@pytest.mark.parametrize("level", list(HIDING), ids=str)
def test_a_gap_over_the_scope_keeps_the_finding_open_as_unknown(
    level: object, state: Status, rule_id: str
) -> None:
    """Not resolved, not exempt, first_seen/last_seen/consecutive kept, the gap named."""
    kind = _rule_kind(rule_id)
    before = _previous(rule_id, kind, state)
    gaps = HIDING[level](kind)  # type: ignore[index]
    delta = _next_cycle(rule_id, before, gaps)
    assert delta.resolved == ()
    (kept,) = [t for t in delta.still_open if t.id == before.id]
    assert (kept.first_seen, kept.last_seen, kept.consecutive_cycles) == (FIRST_SEEN, NOW, 3)
    assert (kept.finding.status, kept.finding.exemption) == (Status.UNKNOWN, None)
    assert kept.finding.evidence["previous_status"] == state.value
    assert kept.finding.evidence["gaps"] != []


# a gap on another kind of the same service needs a service with two kinds (not iac)
ELSEWHERE_CASES = [
    pytest.param(level, rule_id, id=f"{level}-{rule_id}")
    for level in ELSEWHERE
    for rule_id in RULES
    if not (level is GapLevel.KIND and len(_kinds(_rule_kind(rule_id).service)) == 1)
]


@pytest.mark.parametrize(("level", "rule_id"), ELSEWHERE_CASES)
@pytest.mark.parametrize("state", STATES, ids=lambda s: s.value)
def test_a_gap_elsewhere_lets_the_finding_resolve(
    level: object, state: Status, rule_id: str
) -> None:
    """The rule is not "everything stays open": a gap that misses the scope changes nothing."""
    kind = _rule_kind(rule_id)
    before = _previous(rule_id, kind, state)
    delta = _next_cycle(rule_id, before, ELSEWHERE[level](kind))  # type: ignore[index]
    assert [t.id for t in delta.resolved] == [before.id]


def test_carried_twice_keeps_what_was_last_observed() -> None:
    """Two blind cycles in a row: the message and evidence still say what was last seen."""
    kind = Kind.EC2_INSTANCE
    before = _previous("ec2.ssh_keypair_attached", kind, Status.FAIL)
    gaps = (_gap(kind, account=ANY, region=ANY),)
    once = _next_cycle("ec2.ssh_keypair_attached", before, gaps).still_open[0]
    twice = _next_cycle("ec2.ssh_keypair_attached", once, gaps).still_open[0]
    assert twice.finding.evidence["previous"] == {"what": "was seen"}
    assert twice.finding.message == once.finding.message
    assert twice.first_seen == FIRST_SEEN


def test_gap_levels_are_named_from_the_scope() -> None:
    """The report names the level; it is derived from the fields, so it cannot disagree."""
    kind = Kind.EC2_INSTANCE
    assert [g.level for g in (HIDING[lvl](kind)[0] for lvl in HIDING)] == [
        GapLevel.ORGANIZATION,
        GapLevel.ACCOUNT,
        GapLevel.SERVICE,  # a region is every service of it
        GapLevel.SERVICE,
        GapLevel.KIND,
        GapLevel.RESOURCE,
    ]


def test_a_resource_gap_does_not_hide_the_scope() -> None:
    """A question about the whole listing is answered by scope gaps only."""
    kind = Kind.EC2_IMAGE
    one = _gap(kind, kinds=(kind,), arn=_arn(kind))
    assert not one.covers(kind, ACCOUNT, REGION)
    assert one.hides(kind, ACCOUNT, REGION, _arn(kind))
    assert replace(one, resource_arn=None).covers(kind, ACCOUNT, REGION)

"""Which results evaluate() may carry over from the previous cycle, and that it does."""

from __future__ import annotations

from dataclasses import replace

from auditor.engine import evaluate, load_rules
from auditor.engine.history import restrict
from auditor.engine.reuse import fingerprints, plan_reuse
from auditor.model import FixedClock, Snapshot
from auditor.settings import Settings
from tests.store.builders import T0, instance, snapshot

RULES = load_rules(Settings().rules)
CLOCK = FixedClock(T0)


def _pair() -> tuple[Snapshot, Snapshot]:
    keyed = instance(1, KeyName="ops", State={"Name": "running"})
    plain = instance(2, State={"Name": "running"})
    before = snapshot("s1", (keyed, plain, instance(3)))
    after = snapshot("s2", (keyed, instance(2, KeyName="ops", State={"Name": "running"})))
    return before, after


def _findings(before: Snapshot) -> dict[str, object]:
    return {f.id: f for f in evaluate(before, RULES, (), CLOCK).findings}


def test_only_unchanged_resources_and_unchanged_local_rules_are_reused() -> None:
    """Instance 1 is unchanged, 2 changed; check rules and age rules always run."""
    before, after = _pair()
    reuse = plan_reuse(after, before, RULES, fingerprints(RULES), _findings(before))  # type: ignore[arg-type]
    assert reuse is not None
    assert {before.resources[0].arn} == set(reuse.unchanged)
    assert "ec2.ssh_keypair_attached" in reuse.rules
    assert "ec2.max_age" not in reuse.rules  # time-based
    assert all(RULES.get(r) and RULES.get(r).spec is None for r in reuse.rules)  # type: ignore[union-attr]


def test_a_rule_whose_params_changed_is_evaluated_again() -> None:
    before, after = _pair()
    changed = restrict(RULES, params={"ec2.ssh_keypair_attached": {}})
    old = dict(fingerprints(RULES))
    old["ec2.ssh_keypair_attached"] = "something else"
    reuse = plan_reuse(after, before, changed, old, _findings(before))  # type: ignore[arg-type]
    assert reuse is None or "ec2.ssh_keypair_attached" not in reuse.rules


def test_no_reuse_after_a_cycle_with_gaps() -> None:
    from auditor.model import CollectionGap, Kind, Service

    before, after = _pair()
    gap = CollectionGap(
        "123456789012", "eu-west-1", Service.EC2, (Kind.EC2_INSTANCE,), "x", "y", "z"
    )
    assert plan_reuse(after, replace(before, gaps=(gap,)), RULES, fingerprints(RULES), {}) is None


def test_reused_results_come_from_the_previous_cycle_and_equal_a_full_evaluation() -> None:
    """With reuse the findings equal a full evaluation's; and the reused path is really
    taken: a previous finding planted for an unchanged resource shows up."""
    before, after = _pair()
    previous = _findings(before)
    reuse = plan_reuse(after, before, RULES, fingerprints(RULES), previous)  # type: ignore[arg-type]
    assert reuse is not None
    full = evaluate(after, RULES, (), CLOCK)
    optimised = evaluate(after, RULES, (), CLOCK, reuse=reuse)
    assert sorted(full.findings, key=lambda f: f.id) == sorted(
        optimised.findings, key=lambda f: f.id
    )
    assert full.stats == optimised.stats

    key = ("ec2.ssh_keypair_attached", before.resources[0].arn)
    planted = replace(reuse.previous[key], message="from the previous cycle")
    tampered = replace(reuse, previous={**reuse.previous, key: planted})
    found = evaluate(after, RULES, (), CLOCK, reuse=tampered).findings
    assert "from the previous cycle" in {f.message for f in found}

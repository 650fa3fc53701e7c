"""The optimised evaluation (results reused from the previous cycle) finds exactly what a
full re-evaluation of the same stored snapshot finds, across real cycles on moto: nothing
changed, an instance changed in place, a key pair attached, time passing an age threshold,
an exemption added."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auditor.engine import evaluate, load_exemptions, load_rules
from auditor.engine.history import baseline_arns, baseline_kinds, build_history
from auditor.model import FixedClock
from auditor.pipeline import CycleResult, cycle_rules
from tests.drift.conftest import Fleet, Runner, client


def _full(runner: Runner, result: CycleResult, previous_id: str | None) -> Any:
    """Evaluate the stored snapshot from scratch, as `auditor report` replays it."""
    settings, store = runner.settings, runner.store
    rules = cycle_rules(load_rules(settings.rules), settings)
    snapshot = store.load_snapshot(result.snapshot.id)
    previous = store.load_snapshot(previous_id) if previous_id else None
    versions = store.baselines(baseline_arns(snapshot, baseline_kinds(rules)))
    clock = FixedClock(result.evaluation.evaluated_at)
    return evaluate(
        snapshot,
        rules,
        load_exemptions(settings),
        clock,
        history=build_history(versions, previous),
    )


def _same(runner: Runner, result: CycleResult, previous_id: str | None) -> None:
    full = _full(runner, result, previous_id)
    assert sorted(full.findings, key=lambda f: f.id) == sorted(
        result.evaluation.findings, key=lambda f: f.id
    )
    assert full.stats == result.evaluation.stats


def test_reused_results_equal_a_full_re_evaluation(
    fleet: Fleet, make_runner: Callable[..., Runner], tmp_path: Any
) -> None:
    runner = make_runner()
    first = runner.cycle()
    second = runner.cycle()  # nothing changed: declarative results reused
    _same(runner, second, first.snapshot.id)

    ec2 = client("ec2")
    ec2.modify_instance_attribute(InstanceId=fleet.pet, InstanceType={"Value": "m5.large"})
    ec2.modify_instance_metadata_options(InstanceId=fleet.pet, HttpTokens="required")
    third = runner.cycle()
    _same(runner, third, second.snapshot.id)
    assert third.evaluation.findings != second.evaluation.findings

    runner.cycles += 24 * 4 * 30  # a month later: age thresholds crossed
    fourth = runner.cycle()
    _same(runner, fourth, third.snapshot.id)


def test_an_exemption_added_applies_to_reused_results(
    fleet: Fleet, make_runner: Callable[..., Runner]
) -> None:
    """A result reused as `fail` becomes `exempt` when an exemption for it is added."""
    runner = make_runner()
    first = runner.cycle()
    failing = [f for f in first.evaluation.findings if f.rule_id == "ec2.imdsv2_required"]
    assert failing, "the seed has an instance without IMDSv2"
    target = failing[0].resource.arn
    exempted = make_runner(
        exemptions=[
            {
                "rule": "ec2.imdsv2_required",
                "resource": target,
                "reason": "vendor appliance",
                "owner": "team-x",
                "expires": "2027-06-30",
            }
        ]
    )
    exempted.store, exempted.cycles = runner.store, runner.cycles
    second = exempted.cycle()
    _same(exempted, second, first.snapshot.id)
    statuses = {f.status.value for f in second.evaluation.findings if f.resource.arn == target}
    assert "exempt" in statuses

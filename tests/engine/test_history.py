"""Room for drift rules: history as an input, rules over several kinds, checked params."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from auditor.engine import (
    RuleError,
    RuleSet,
    baseline_arns,
    baseline_kinds,
    build_history,
    evaluate,
    load_rules,
    restrict,
)
from auditor.model import FixedClock, Kind, Resource, Scope, Service, Snapshot, Status
from auditor.pipeline import cycle_rules
from auditor.settings import RulesConfig, Settings
from tests.checks.resources import ACCOUNT, REGION, ecr_repository, gap, instance, launch_template
from tests.conftest import NOW

PACK = """\
rules:
  - id: acme.unmanaged
    title: t
    severity: low
    resource: {resource}
    description: d
    rationale: r
    remediation: fix it
    check: iac_unmanaged
    params:
      managed_tags: {{type: list, default: []}}
"""


def _snapshot(*resources: Resource, gaps: tuple = ()) -> Snapshot:  # type: ignore[type-arg]
    scope = Scope((ACCOUNT,), (REGION,), tuple(Service))
    return Snapshot("s2", NOW, NOW, scope, resources, gaps, {})


def _pack(tmp_path: Path, resource: str) -> Path:
    path = tmp_path / "pack.yaml"
    path.write_text(PACK.format(resource=resource))
    return path


def test_a_rule_may_span_several_kinds(tmp_path: Path) -> None:
    """`resource: [a, b]` applies the rule to each kind and counts each one evaluated."""
    rules = load_rules(
        RulesConfig(builtin=False), extra_paths=[_pack(tmp_path, "[ecr.repository, ec2.instance]")]
    )
    rule = rules.get("acme.unmanaged")
    assert rule is not None
    assert (Kind.ECR_REPOSITORY, Kind.EC2_INSTANCE) == rule.info.applies_to
    result = evaluate(_snapshot(ecr_repository(), instance()), rules, (), FixedClock(NOW))
    assert (2, 2) == (result.stats[0].evaluated, result.stats[0].failed)


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        ("[ecr.repository, ec2.vm]", "resource: unknown kind 'ec2.vm'"),
        ("[ecr.repository, ecr.repository]", "resource: a kind is listed twice"),
        ("[]", "resource: unknown kind []"),
    ],
)
def test_bad_kind_lists_are_named_errors(tmp_path: Path, resource: str, message: str) -> None:
    """A list of kinds is validated like one kind: file, line, rule, field."""
    with pytest.raises(RuleError) as caught:
        load_rules(RulesConfig(builtin=False), extra_paths=[_pack(tmp_path, resource)])
    assert [f"{tmp_path / 'pack.yaml'}:5: rule acme.unmanaged: {message}"] == [
        p.split(" (valid")[0] for p in caught.value.problems
    ]


def test_gap_over_several_kinds_of_one_service_is_one_unknown(tmp_path: Path) -> None:
    """Two kinds of the rule in one ec2 gap share a placeholder ARN: one finding, not two
    with the same id."""
    rules = load_rules(
        RulesConfig(builtin=False),
        extra_paths=[_pack(tmp_path, "[ec2.instance, ec2.launch_template, ecr.repository]")],
    )
    snap = _snapshot(gaps=(gap(Kind.EC2_INSTANCE, Kind.EC2_LAUNCH_TEMPLATE),))
    result = evaluate(snap, rules, (), FixedClock(NOW))
    assert [(f"arn:aws:ec2:{REGION}:{ACCOUNT}:*", Status.UNKNOWN)] == [
        (f.resource.arn, f.status) for f in result.findings
    ]


def test_bad_check_params_are_errors_when_rules_load() -> None:
    """A compare path that is not JMESPath or an unknown normalizer names the rule."""
    config = RulesConfig(
        params={
            "iac.changed": {
                "compare": {"aws_instance": {"instance_type": "InstanceType[?"}},
                "normalize": {"aws_instance": {"instance_type": "fuzzy"}},
            },
            "drift.ec2_modified_in_place": {"fields": []},
        }
    )
    with pytest.raises(RuleError) as caught:
        load_rules(config)
    text = "\n".join(caught.value.problems)
    assert "rule iac.changed: params: compare.aws_instance.instance_type (live)" in text
    assert "unknown normalizer 'fuzzy' (valid: bool, family_revision" in text
    assert "rule drift.ec2_modified_in_place: params: fields: expected a non-empty list" in text


def test_history_feeds_drift_and_its_absence_is_no_drift() -> None:
    """The same snapshot: drift against a baseline, none without history (first seen)."""
    rules = RuleSet((load_rules(RulesConfig()).get("drift.ec2_modified_in_place"),))  # type: ignore[arg-type]
    baseline = instance()
    now = _snapshot(instance(InstanceType="m5.large"))

    class Version:
        resource = baseline
        first_seen = NOW - timedelta(days=1)
        first_snapshot_id = "s1"

    history = build_history({baseline.arn: Version()}, None)
    with_history = evaluate(now, rules, (), FixedClock(NOW), history=history)
    assert ["drift.ec2_modified_in_place"] == [f.rule_id for f in with_history.findings]
    assert [] == list(evaluate(now, rules, (), FixedClock(NOW)).findings)


def test_baselines_are_loaded_only_for_kinds_a_baseline_rule_watches() -> None:
    """The pipeline asks the store only for what drift rules compare."""
    rules = load_rules(RulesConfig())
    assert {Kind.EC2_INSTANCE, Kind.ECS_SERVICE, Kind.EKS_NODEGROUP} == baseline_kinds(rules)
    snap = _snapshot(instance(), launch_template(), ecr_repository())
    assert [instance().arn] == baseline_arns(snap, baseline_kinds(rules))


def test_cycle_rules_drop_iac_without_a_state_and_honour_cloudformation_switch() -> None:
    """No state: no iac.* rule runs. `cloudformation_managed: false` drops the stack tag."""
    rules = load_rules(RulesConfig())
    assert [] == [r for r in cycle_rules(rules, Settings()).ids if r.startswith("iac.")]
    off = cycle_rules(
        rules,
        Settings(iac={"terraform_states": ("x.tfstate",), "cloudformation_managed": False}),
    )
    unmanaged = off.get("iac.unmanaged")
    assert unmanaged is not None
    assert [] == unmanaged.params["managed_tags"]
    repo = replace(ecr_repository(), tags={"aws:cloudformation:stack-name": "s"})
    result = evaluate(_snapshot(repo), RuleSet((unmanaged,)), (), FixedClock(NOW))
    assert [Status.FAIL] == [f.status for f in result.findings]


def test_restrict_rejects_bad_overrides() -> None:
    """Overrides applied by the pipeline are validated like the config's."""
    with pytest.raises(RuleError, match="params.managed_tags: expected a list"):
        restrict(load_rules(RulesConfig()), params={"iac.unmanaged": {"managed_tags": "x"}})

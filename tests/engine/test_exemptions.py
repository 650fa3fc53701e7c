"""Exemptions: owned, explained, and expiring on their own."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auditor.engine import (
    Exemption,
    RuleError,
    RuleSet,
    TagPolicy,
    check_exemptions,
    evaluate,
    expired_exemptions,
    load_exemptions,
    load_rules,
)
from auditor.model import Evaluation, FixedClock, Scope, Severity, Snapshot, Status
from auditor.settings import ExemptionConfig, ExemptionPolicyConfig, RulesConfig, Settings
from tests.checks.resources import ACCOUNT, REGION, instance
from tests.conftest import NOW

DATA = Path(__file__).parent.parent / "data" / "exemptions"
OLD = instance(LaunchTime="2026-01-01T00:00:00+00:00")  # fails ec2.max_age


TAGS_ON = TagPolicy(rules=("ec2.max_age",))


def run(
    resource_tags: dict[str, str] | None = None,
    exemptions: tuple[Exemption, ...] = (),
    at: datetime = NOW,
    tag_policy: TagPolicy | None = TAGS_ON,
    rule_id: str = "ec2.max_age",
) -> Evaluation:
    rule = load_rules(RulesConfig()).get(rule_id)
    assert rule is not None
    resource = replace(OLD, tags=resource_tags or {})
    snap = Snapshot("s", at, at, Scope((ACCOUNT,), (REGION,), ()), (resource,), (), {})
    return evaluate(snap, RuleSet((rule,)), exemptions, FixedClock(at), tag_policy=tag_policy)


def exemption(expires: date, **kw: Any) -> Exemption:
    fields: dict[str, Any] = {"rule": "ec2.*", "reason": "migration", "owner": "team-x"}
    fields.update(kw)
    return Exemption(expires=expires, source="config", **fields)


def test_exemption_turns_fail_into_exempt_with_its_reference() -> None:
    """An exempt finding says who exempted it, why and until when; it is not counted as failed."""
    result = run(exemptions=(exemption(date(2027, 1, 31)),))
    (finding,) = result.findings
    assert finding.status is Status.EXEMPT
    assert finding.exemption is not None
    assert (finding.exemption.owner, finding.exemption.expires) == ("team-x", "2027-01-31")
    assert (result.stats[0].failed, result.stats[0].exempt) == (0, 1)


def test_exemption_applies_through_its_last_day_then_expires_by_itself() -> None:
    """Expiry compares with the injected clock: no one has to remember to remove it."""
    last_day = exemption(NOW.date())
    assert run(exemptions=(last_day,)).findings[0].status is Status.EXEMPT
    next_day = NOW + timedelta(days=1)
    assert run(exemptions=(last_day,), at=next_day).findings[0].status is Status.FAIL
    assert expired_exemptions((last_day,), FixedClock(next_day)) == (last_day,)
    assert expired_exemptions((last_day,), FixedClock(NOW)) == ()


@pytest.mark.parametrize(
    ("kw", "applies"),
    [
        ({"resource": "arn:aws:ec2:*:*:instance/i-0ab*"}, True),
        ({"resource": "arn:aws:ec2:*:*:instance/i-9*"}, False),
        ({"account": ACCOUNT}, True),
        ({"account": "999999999999"}, False),
        ({"tags": {"Env": "dev"}}, True),
        ({"tags": {"Env": "prod"}}, False),
        ({"rule": "ecs.*"}, False),
    ],
)
def test_exemption_scope(kw: dict[str, Any], applies: bool) -> None:
    """Rule glob, ARN glob, account and tags must all match."""
    result = run({"Env": "dev"}, (exemption(date(2027, 1, 1), **kw),))
    assert (result.findings[0].status is Status.EXEMPT) is applies


def test_tag_exemption_with_a_valid_date() -> None:
    """auditor:exempt + auditor:exempt-until exempts the listed rules until that date."""
    tags = {"auditor:exempt": "ecs.privileged, ec2.max_age", "auditor:exempt-until": "2026-12-15",
            "auditor:exempt-owner": "team-y"}  # fmt: skip
    (finding,) = run(tags).findings
    assert finding.status is Status.EXEMPT
    assert finding.exemption is not None
    assert (finding.exemption.source, finding.exemption.owner) == ("tag", "team-y")


@pytest.mark.parametrize(
    "tags",
    [
        {"auditor:exempt": "ec2.max_age"},
        {"auditor:exempt": "ec2.max_age", "auditor:exempt-until": "soon"},
        {"auditor:exempt": "ec2.max_age", "auditor:exempt-until": "2026-11-21"},
        {"auditor:exempt": "ecs.privileged", "auditor:exempt-until": "2026-12-31"},
        {"auditor:exempt": "*", "auditor:exempt-until": "9999-12-31"},
        {"auditor:exempt": "ec2.max_age", "auditor:exempt-until": "2026-12-23"},
    ],
    ids=["no date", "bad date", "expired", "other rule", "year 9999", "past max_days"],
)
def test_tag_exemption_without_valid_date_is_ignored(tags: dict[str, str]) -> None:
    """Tags are mutable: without a future date (or for another rule) nothing is exempt."""
    assert run(tags).findings[0].status is Status.FAIL


def test_load_exemptions_from_config_and_files() -> None:
    """Config and exemption files are both loaded; file entries say where they came from."""
    settings = Settings(
        exemptions=(
            ExemptionConfig(rule="ec2.ami_age", reason="r", owner="o", expires=date(2027, 1, 1)),
        ),
        exemption_files=(DATA / "good.yaml",),
    )
    loaded = load_exemptions(settings)
    assert [e.rule for e in loaded] == ["ec2.ami_age", "ec2.max_age", "ecs.*"]
    assert loaded[0].source == "config"
    assert loaded[1].source == f"{DATA / 'good.yaml'}:2"
    assert loaded[2].tags == {"Environment": "sandbox"}


def test_bad_exemption_file_names_file_line_and_field() -> None:
    """A missing owner or a bad date is a BadInputError naming file:line:field."""
    with pytest.raises(RuleError) as caught:
        load_exemptions(Settings(exemption_files=(DATA / "bad.yaml",)))
    bad = DATA / "bad.yaml"
    problems = caught.value.problems
    assert (
        problems[0]
        == f"{bad}:1: exemptions[0].owner: missing (every exemption needs rule, reason, owner and expires)"
    )
    assert problems[1].startswith(f"{bad}:7: exemptions[1].expires: ")
    assert problems[2].startswith(
        f"{bad}:8: exemptions[1].ticket: unknown key (valid: rule, resource,"
    )


def test_tag_exemptions_are_off_unless_the_rule_opts_in() -> None:
    """Anyone who can tag can write a tag exemption: without a policy naming the rule, the
    finding stays failed."""
    tags = {"auditor:exempt": "*", "auditor:exempt-until": "2026-12-01"}
    assert run(tags, tag_policy=None).findings[0].status is Status.FAIL
    assert run(tags, tag_policy=TagPolicy(rules=("ecs.*",))).findings[0].status is Status.FAIL
    assert run(tags, tag_policy=TagPolicy(rules=("ec2.*",))).findings[0].status is Status.EXEMPT


def test_critical_rules_need_exact_id_and_allow_critical() -> None:
    """A glob never opens tag exemptions to a critical rule; the exact id plus
    allow_critical does."""
    glob = TagPolicy(rules=("*",), allow_critical=True)
    exact = TagPolicy(rules=("ec2.max_age",), allow_critical=False)
    both = TagPolicy(rules=("ec2.max_age",), allow_critical=True)
    assert glob.allows("ec2.max_age", Severity.HIGH)
    assert not glob.allows("ec2.max_age", Severity.CRITICAL)
    assert not exact.allows("ec2.max_age", Severity.CRITICAL)
    assert both.allows("ec2.max_age", Severity.CRITICAL)


def _config_exemption(**kw: Any) -> Exemption:
    fields: dict[str, Any] = {
        "rule": "ec2.max_age",
        "reason": "r",
        "owner": "o",
        "expires": date(2027, 1, 31),
        "source": "config",
        "resource": "arn:aws:ec2:*:*:instance/i-0abc*",
        "where": "auditor.yaml:7",
    }
    fields.update(kw)
    return Exemption(**fields)


@pytest.mark.parametrize(
    ("kw", "problem"),
    [
        ({"rule": "ec2.no_such_rule"}, "auditor.yaml:7: rule: 'ec2.no_such_rule' matches no loaded rule"),
        ({"rule": "*"}, "auditor.yaml:7: rule: '*' exempts every rule"),
        ({"rule": "*.*"}, "auditor.yaml:7: rule: '*.*' exempts every rule"),
        ({"expires": date(9999, 12, 31)}, "auditor.yaml:7: expires: 9999-12-31 is more than 365 days away"),
        ({"resource": "*"}, "auditor.yaml:7: resource: an exemption needs a scope"),
    ],
    ids=["unknown rule", "star", "star-dot-star", "year 9999", "unscoped"],
)
def test_exemption_policy_refuses(kw: dict[str, Any], problem: str) -> None:
    """An exemption names a loaded rule, not every rule; lives at most max_days; has a scope."""
    rules = load_rules(RulesConfig())
    policy = ExemptionPolicyConfig()
    check_exemptions((_config_exemption(),), rules, policy, NOW.date())
    with pytest.raises(RuleError) as caught:
        check_exemptions((_config_exemption(**kw),), rules, policy, NOW.date())
    assert caught.value.problems[0].startswith(problem)


def test_exemption_policy_can_allow_what_it_refuses_by_default() -> None:
    """allow_all_rules, allow_unscoped and a longer max_days are the config's to grant."""
    lenient = ExemptionPolicyConfig(allow_all_rules=True, allow_unscoped=True, max_days=4000)
    wide = _config_exemption(rule="*", resource="*", expires=date(2036, 1, 1))
    check_exemptions((wide,), load_rules(RulesConfig()), lenient, NOW.date())

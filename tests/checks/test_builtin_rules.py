"""Every built-in rule, on hand-made resources: passing, failing and unknown cases."""

from __future__ import annotations

from functools import cache

import pytest

from auditor.checks import CHECKS
from auditor.engine import RuleSet, evaluate, load_rules
from auditor.engine.loader import RULE_ID
from auditor.model import FixedClock, Kind, Scope, Service, Snapshot, Status
from auditor.settings import RulesConfig
from tests.checks.cases import CASES as ENGINE_CASES
from tests.checks.cases import Case
from tests.checks.cases_access import ACCESS_CASES
from tests.checks.cases_drift import DRIFT_CASES
from tests.checks.cases_iac import IAC_CASES
from tests.checks.cases_images import IMAGE_CASES
from tests.checks.resources import ACCOUNT, REGION, gap
from tests.conftest import NOW

CASES = ENGINE_CASES + DRIFT_CASES + IAC_CASES + ACCESS_CASES + IMAGE_CASES

# The public contract: the built-in rule ids listed in the issue that introduced the engine.
BUILTIN_IDS = {
    "ec2.ssh_keypair_attached", "lt.ssh_keypair", "eks.nodegroup_remote_access",
    "sg.ssh_open_world", "ecs.exec_enabled", "ecr.tag_mutable", "ecs.image_not_pinned",
    "asg.launch_template_version_mutable", "asg.uses_launch_configuration", "ecs.env_secrets",
    "ec2.userdata_secrets", "lt.userdata_secrets", "ec2.ami_age", "asg.ami_age",
    "ec2.ami_deprecated_or_gone", "ecr.running_image_age", "eks.nodegroup_ami_stale",
    "eks.version_unsupported", "ec2.max_age", "ecs.task_max_age", "asg.max_instance_lifetime",
    "ec2.stopped_too_long", "ec2.unmanaged_pet", "ecs.rootfs_writable", "ecs.privileged",
    "ecs.root_user", "ecs.host_namespace", "ec2.imdsv2_required", "lt.imdsv2_required",
    "eks.endpoint_public",
    # the drift issue's rules
    "drift.ec2_modified_in_place", "drift.lt_default_changed", "drift.ecs_service_modified",
    "drift.eks_nodegroup_modified", "asg.instance_stale", "eks.node_stale", "iac.unmanaged",
    "iac.missing", "iac.changed",
    # the event feed's issue
    "access.ssm_session", "access.instance_connect", "access.ecs_exec",
    # images in use (issue 18)
    "ecr.image_secrets", "ecr.image_not_scanned", "ecr.image_vulnerabilities",
}  # fmt: skip


@cache
def builtin() -> RuleSet:
    return load_rules(RulesConfig())


def snapshot(case: Case) -> Snapshot:
    return Snapshot(
        id="snap-test",
        started_at=NOW,
        finished_at=NOW,
        scope=Scope((ACCOUNT,), (REGION,), tuple(Service)),
        resources=(case.subject, *case.related),
        gaps=case.gaps,
        api_calls={},
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule_case(case: Case) -> None:
    """The rule gives the expected status for the subject resource, and counts it."""
    rule = builtin().get(case.rule)
    assert rule is not None
    result = evaluate(snapshot(case), RuleSet((rule,)), (), FixedClock(NOW), history=case.history)
    on_subject = [f for f in result.findings if f.resource.arn == case.subject.arn]
    stats = result.stats[0]
    if case.expect == "pass":
        assert on_subject == []
        assert (stats.passed, stats.failed, stats.unknown) == (1, 0, 0)
        return
    if case.expect == "fail":
        assert [f.status for f in on_subject] == [Status.FAIL]
        assert (case.severity or rule.info.severity) == on_subject[0].severity
        assert on_subject[0].message
        assert (stats.passed, stats.failed) == (0, 1)
        return
    # unknown: on the resource itself, or on its whole scope when its own kind is in a gap
    service = rule.info.kind.value.split(".")[0]
    scope = f"arn:aws:{service}:{case.gaps[0].region if case.gaps else REGION}:{ACCOUNT}:*"
    unknowns = [f for f in result.findings if f.resource.arn in (case.subject.arn, scope)]
    assert [f.status for f in unknowns] == [Status.UNKNOWN]
    assert unknowns[0].message
    assert (stats.failed, stats.unknown) == (0, 1)


@pytest.mark.parametrize("rule_id", sorted(BUILTIN_IDS))
def test_gap_makes_rule_unknown(rule_id: str) -> None:
    """A collection gap on the rule's kind yields one unknown scope finding, never a pass."""
    rule = builtin().get(rule_id)
    assert rule is not None
    gaps = (gap(rule.info.kind), gap(rule.info.kind))  # two gaps, one scope: one finding
    snap = Snapshot("s", NOW, NOW, Scope((ACCOUNT,), (REGION,), tuple(Service)), (), gaps, {})
    result = evaluate(snap, RuleSet((rule,)), (), FixedClock(NOW))
    service = rule.info.kind.value.split(".")[0]
    assert [f"arn:aws:{service}:{REGION}:{ACCOUNT}:*"] == [f.resource.arn for f in result.findings]
    assert [f.status for f in result.findings] == [Status.UNKNOWN]
    assert len(result.findings[0].evidence["gaps"]) == 2
    assert (result.stats[0].evaluated, result.stats[0].unknown, result.stats[0].passed) == (1, 1, 0)


def test_builtin_rules_are_exactly_the_contract() -> None:
    """The built-in packs define exactly the rule ids of the public contract."""
    assert set(builtin().ids) == BUILTIN_IDS


@pytest.mark.parametrize("rule_id", sorted(BUILTIN_IDS))
def test_every_rule_has_pass_fail_and_unknown_cases(rule_id: str) -> None:
    """Meta-test: a rule without a passing, a failing and an unknown case fails the suite."""
    expected = {"pass", "fail", "unknown"}
    assert expected == {c.expect for c in CASES if c.rule == rule_id}


def test_cases_name_only_loaded_rules() -> None:
    """Meta-test: no case is orphaned by a renamed rule."""
    assert set() == {c.rule for c in CASES} - set(builtin().ids)


def test_rule_ids_and_checks_are_well_formed() -> None:
    """Meta-test: ids are dotted lower case, every `check:` exists, every check is used."""
    rules = builtin().rules
    assert [r.id for r in rules if not RULE_ID.match(r.id)] == []
    assert [r.check for r in rules if r.check is not None and r.check not in CHECKS] == []
    assert set(CHECKS) == {r.check for r in rules if r.check is not None}


def test_a_rules_check_is_found_from_its_id() -> None:
    """Meta-test: the check of rule `ec2.x` is in checks/ec2.py (or checks/ec2_<topic>.py)
    and the function is named after the rule's `check:`, so a reader finds it from the id."""
    misplaced = []
    for rule in builtin().rules:
        if rule.spec is None:
            continue
        prefix, module = rule.id.split(".")[0], rule.spec.fn.__module__.rsplit(".", 1)[-1]
        if not (module == prefix or module.startswith(f"{prefix}_")):
            misplaced.append((rule.id, module))
        if rule.spec.fn.__name__ != rule.check:
            misplaced.append((rule.id, rule.spec.fn.__name__))
    assert misplaced == []


def test_every_rule_documents_itself() -> None:
    """Metadata a report needs: frameworks, remediation, and a kind that collectors produce."""
    for rule in builtin().rules:
        info = builtin().info(rule.id)
        assert info.frameworks, rule.id
        assert "NIST 800-53" in info.frameworks, rule.id
        assert info.remediation, rule.id
        assert info.rationale, rule.id
        assert info.description, rule.id
        assert isinstance(info.kind, Kind)


def test_replacement_rules_declare_their_action() -> None:
    """Remediation relies on `action: replace` and `source_caused` (replacing would recreate it)."""
    rules = builtin()
    replace_ids = {r.id for r in rules.rules if r.info.action == "replace"}
    assert {
        "ec2.max_age",
        "ecs.task_max_age",
        "ec2.ami_age",
        "eks.nodegroup_ami_stale",
    } <= replace_ids
    for rule_id in ("lt.ssh_keypair", "ecs.env_secrets", "ecs.image_not_pinned", "ecr.tag_mutable"):
        assert rules.info(rule_id).source_caused, rule_id
    assert not {r.id for r in rules.rules if r.info.action and r.info.source_caused}

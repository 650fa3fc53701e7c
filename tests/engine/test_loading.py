"""Loading rule packs: every problem reported with file:line, rule id, field and choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.engine import RuleError, load_rules
from auditor.errors import BadInputError, ExitCode
from auditor.settings import RulesConfig

DATA = Path(__file__).parent.parent / "data" / "rules"
BROKEN = str(DATA / "broken.yaml")


def problems(config: RulesConfig, *paths: Path) -> tuple[str, ...]:
    with pytest.raises(RuleError) as caught:
        load_rules(config, extra_paths=paths)
    return caught.value.problems


def test_broken_pack_reports_every_problem_with_line_and_field() -> None:
    """One clear line per problem, each naming file:line, rule id and field."""
    found = problems(RulesConfig(builtin=False), DATA / "broken.yaml")
    expected_prefixes = [
        f"{BROKEN}:9: rule custom.bad_operator: fails_when.op: unknown operator 'exists'",
        f"{BROKEN}:10: rule Custom-Bad-Id: id: 'Custom-Bad-Id' is not a valid id",
        f"{BROKEN}:12: rule Custom-Bad-Id: severity: unknown severity 'urgent'",
        f"{BROKEN}:13: rule Custom-Bad-Id: resource: unknown kind 'ec2.vm'",
        f"{BROKEN}:17: rule Custom-Bad-Id: check: unknown check 'no_such_check'",
        f"{BROKEN}:25: rule custom.unknown_key: owner: unknown key",
        f"{BROKEN}:35: rule custom.bad_param: params.days.default: expected an integer",
        f"{BROKEN}:36: rule custom.bad_param: fails_when.value: unknown param reference 'weeks'",
        f"{BROKEN}:44: rule custom.bad_jmespath: frameworks.NIST: unknown framework",
        f"{BROKEN}:43: rule custom.bad_jmespath: remediation.action: unknown action 'reboot'",
        f"{BROKEN}:47: rule custom.bad_jmespath: fails_when.all[0].key: invalid JMESPath",
        f"{BROKEN}:48: rule custom.bad_jmespath: fails_when.all[1].value: in needs a list",
    ]
    assert len(found) == len(expected_prefixes)
    for line, prefix in zip(found, expected_prefixes, strict=True):
        assert line.startswith(prefix), line


def test_errors_list_the_valid_choices() -> None:
    """A user who mistyped an operator, severity or check sees what they could have written."""
    found = "\n".join(problems(RulesConfig(builtin=False), DATA / "broken.yaml"))
    assert (
        "(valid: equals, in, not-in, present, absent, regex, contains, age-greater-than)" in found
    )
    assert "(valid: critical, high, medium, low, info)" in found
    assert "ec2_ami_age" in found
    assert "(valid: id, title, severity, resource," in found


def test_rule_error_is_bad_input_exit_2() -> None:
    """The CLI maps a bad rule pack to exit code 2."""
    with pytest.raises(BadInputError) as caught:
        load_rules(RulesConfig(builtin=False), extra_paths=[DATA / "broken.yaml"])
    assert caught.value.exit_code == ExitCode.BAD_INPUT


def test_duplicate_id_across_packs_names_both_places() -> None:
    """A custom pack cannot silently replace a built-in rule."""
    (line,) = problems(RulesConfig(), DATA / "duplicate.yaml")
    assert line.startswith(f"{DATA / 'duplicate.yaml'}:2: rule ec2.max_age: id: duplicate id")
    assert "rules/ec2.yaml:" in line


def test_invalid_yaml_names_file_and_line() -> None:
    """A syntax error points at the line."""
    (line,) = problems(RulesConfig(builtin=False), DATA / "not_yaml.yaml")
    assert line.startswith(f"{DATA / 'not_yaml.yaml'}:4: not valid YAML")


def test_missing_path_is_an_error() -> None:
    """A typo in rules.paths is reported, not silently ignored."""
    (line,) = problems(RulesConfig(builtin=False, paths=(str(DATA / "nope"),)))
    assert line == f"{DATA / 'nope'}: no such file or directory"


def test_config_params_and_disabled_are_validated() -> None:
    """Overrides for unknown rules or params, or of the wrong type, are errors."""
    config = RulesConfig(
        params={"ec2.max_age": {"days": "x", "weeks": 2}, "nope.rule": {"days": 1}},
        disabled=("ec2.nothing*",),
    )
    assert problems(config) == (
        "config: rules.disabled: ec2.nothing*: matches no loaded rule",
        "config: rule ec2.max_age: rules.params.ec2.max_age.days: expected an integer, got 'x'",
        "config: rule ec2.max_age: rules.params.ec2.max_age.weeks: unknown param (valid: days)",
        "config: rules.params.nope.rule: no such rule loaded (or it is disabled)",
    )


def test_params_override_and_disable() -> None:
    """Config overrides reach the rule; disabled rules (globs allowed) are not loaded."""
    rules = load_rules(RulesConfig(params={"ec2.max_age": {"days": 14}}, disabled=("ecs.*",)))
    rule = rules.get("ec2.max_age")
    assert rule is not None
    assert rule.params == {"days": 14}
    assert [r for r in rules.ids if r.startswith("ecs.")] == []
    assert rules.get("ecr.tag_mutable") is not None


def test_param_bounds_are_enforced() -> None:
    """`min` in a param declaration rejects a nonsensical override."""
    found = problems(RulesConfig(params={"ec2.max_age": {"days": 0}}))
    assert found == (
        "config: rule ec2.max_age: rules.params.ec2.max_age.days: 0 is below the minimum 1",
    )


def test_version_changes_with_rule_content() -> None:
    """The report manifest's rules version identifies what was evaluated."""
    default = load_rules(RulesConfig())
    assert load_rules(RulesConfig()).version == default.version
    assert load_rules(RulesConfig(params={"ec2.max_age": {"days": 14}})).version != default.version


def test_custom_pack_from_a_directory_needs_no_python(tmp_path: Path) -> None:
    """A directory of packs is loaded next to the built-ins."""
    (tmp_path / "acme.yaml").write_text((DATA / "custom.yaml").read_text())
    (tmp_path / "notes.txt").write_text("not a pack")
    rules = load_rules(RulesConfig(paths=(str(tmp_path),)))
    assert len(rules) == len(load_rules(RulesConfig())) + 2  # the built-ins and acme's two
    info = rules.info("acme.old_launch")
    assert (info.action, info.frameworks) == ("replace", {})

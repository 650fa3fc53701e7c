"""`auditor rules list|validate|explain` as a user runs them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from auditor.commands import rules as rules_command
from auditor.engine import load_rules
from auditor.settings import RulesConfig

DATA = Path(__file__).parent.parent / "data" / "rules"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="auditor")
    rules_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


@pytest.fixture(autouse=True)
def _no_local_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_list_prints_every_rule_as_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    """Not a terminal: tab-separated lines a script can grep."""
    assert run("rules", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "id\tseverity\tkind\tframeworks"
    assert len(lines) == len(load_rules(RulesConfig())) + 1  # a header line
    row = next(line for line in lines if line.startswith("ec2.imdsv2_required\t"))
    assert row.split("\t")[1:3] == ["high", "ec2.instance"]
    assert "SecHub EC2.8" in row


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    """A valid custom pack: exit 0 and a count."""
    assert run("rules", "validate", str(DATA / "custom.yaml")) == 0
    expected = len(load_rules(RulesConfig())) + 2  # the built-ins and the pack's two
    assert capsys.readouterr().out.startswith(f"ok: {expected} rules valid")


def test_validate_prints_every_problem_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Every problem on stderr, with file:line; exit 2."""
    assert run("rules", "validate", str(DATA / "broken.yaml"), str(DATA / "duplicate.yaml")) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "13 problems"
    assert err[0].startswith(f"{DATA / 'broken.yaml'}:9: rule custom.bad_operator: fails_when.op:")
    assert any(line.startswith(f"{DATA / 'duplicate.yaml'}:2:") for line in err)


def test_validate_honours_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--config applies params and disabled rules while validating."""
    config = tmp_path / "auditor.yaml"
    config.write_text("rules: {params: {ec2.max_age: {days: -1}}}\n")
    assert run("rules", "validate", str(DATA / "custom.yaml"), "--config", str(config)) == 2
    assert "rules.params.ec2.max_age.days: -1 is below the minimum 1" in capsys.readouterr().err


def test_explain_shows_metadata_params_and_condition(capsys: pytest.CaptureFixture[str]) -> None:
    """Explain tells a reviewer everything the rule does."""
    assert run("rules", "explain", "ec2.max_age") == 0
    out = capsys.readouterr().out
    assert out.startswith("ec2.max_age: Instance running longer than the allowed lifetime")
    assert "  days = 30  [integer]" in out
    assert "Well-Architected: REL08-BP04" in out
    assert "automatic action: replace" in out
    assert '"op": "age-greater-than"' in out


def test_explain_check_rule(capsys: pytest.CaptureFixture[str]) -> None:
    """A Python-check rule names its check and says replacement would not fix it."""
    assert run("rules", "explain", "lt.ssh_keypair") == 0
    out = capsys.readouterr().out
    assert "check: lt_ssh_keypair" in out
    assert "source-caused" in out


def test_explain_unknown_rule_suggests_close_ids() -> None:
    """A typo gets a suggestion, and exit 2 through the CLI's error mapping."""
    from auditor.errors import BadInputError

    with pytest.raises(BadInputError, match="did you mean: ec2.max_age"):
        run("rules", "explain", "ec2.maxage")


def test_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    """Every subcommand's --help shows an example."""
    for sub in ("list", "validate", "explain"):
        with pytest.raises(SystemExit):
            run("rules", sub, "--help")
        assert "example:" in capsys.readouterr().out


def test_docs_list_every_builtin_rule() -> None:
    """docs/rules.md documents every built-in rule with its severity and kind."""
    from auditor.engine import load_rules
    from auditor.settings import RulesConfig

    docs = (Path(__file__).parents[2] / "docs" / "rules.md").read_text()
    missing = [
        r.id
        for r in load_rules(RulesConfig()).rules
        if f"| `{r.id}` | {r.info.severity.value} | {', '.join(f'`{k.value}`' for k in r.info.applies_to)} |"
        not in docs
    ]
    assert missing == []


def test_explain_secret_rule_lists_detectors_and_reasons(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 14: the secret rules say which detectors can fire, why, and what never does."""
    assert run("rules", "explain", "ec2.userdata_secrets") == 0
    out = capsys.readouterr().out
    assert "Command-line credential flag: a literal value after a credential flag" in out
    assert "Secret-looking variable name:" in out
    assert "never a secret, whatever the variable is called:" in out
    assert "ssm:, secretsmanager:, vault:" in out
    assert run("rules", "explain", "ec2.imdsv2_required") == 0
    assert "detectors" not in capsys.readouterr().out

"""Every hostile data file through the loader it targets, in-process (fast): each is refused
with an error naming the file (or the environment variable), never another exception.

The same families run through the real CLI in test_cli.py (a representative set)."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.engine import RuleError, load_exemptions, load_rules
from auditor.errors import BadInputError
from auditor.iac.terraform import StateError, load_states
from auditor.model import FixedClock
from auditor.pipeline import preflight
from auditor.settings import ConfigError, RulesConfig, Settings, load_settings
from tests.conftest import NOW
from tests.hostile.conftest import DATA, expect_of, files

CLOCK = FixedClock(NOW)


def _unused(*_: object) -> object:
    raise AssertionError("no S3 in these tests")


def startup(config: Path) -> None:
    """What `auditor scan` checks before touching AWS or the store."""
    preflight(load_settings(config), write_report=False, clock=CLOCK)


def _check(error: BaseException, source: str, expect: str | None) -> None:
    text = str(error)
    problems = [line for line in text.splitlines() if not line.endswith(":")]
    assert problems, text
    assert all(source in line for line in problems), text
    if expect is not None:
        assert expect in text, (expect, text)


@pytest.mark.parametrize("path", files("config"), ids=lambda p: p.name)
def test_config_file_refused(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hostile auditor.yaml: a BadInputError (exit 2) naming file and line."""
    monkeypatch.chdir(path.parent)
    with pytest.raises(BadInputError) as caught:
        startup(path)
    _check(caught.value, str(path), expect_of(path))


@pytest.mark.parametrize("path", files("env"), ids=lambda p: p.stem)
def test_environment_override_refused(
    path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A bad AUDITOR_* variable is named as the source, not the config file."""
    case = json.loads(path.read_text())
    for name in [n for n in os.environ if n.upper().startswith("AUDITOR_")]:
        monkeypatch.delenv(name)
    for name, value in case["env"].items():
        monkeypatch.setitem(os.environ, name, value)
    config = tmp_path / "auditor.yaml"
    config.write_text("services: [ec2]\n")
    with pytest.raises(BadInputError) as caught:
        startup(config)
    assert case["expect"] in str(caught.value)
    assert str(config) not in str(caught.value)


@pytest.mark.parametrize("path", files("rules"), ids=lambda p: p.name)
def test_rule_pack_refused(path: Path) -> None:
    """Hostile rule pack: RuleError listing problems, each with file:line."""
    with pytest.raises(RuleError) as caught:
        load_rules(RulesConfig(builtin=False, paths=(str(path),)))
    _check(caught.value, str(path), expect_of(path))


@pytest.mark.parametrize("path", files("exemptions"), ids=lambda p: p.name)
def test_exemption_file_refused(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hostile exemption file: refused at start, naming file and line."""
    monkeypatch.chdir(path.parent)
    settings = Settings(exemption_files=(path,))
    with pytest.raises(RuleError) as caught:
        preflight(settings, write_report=False, clock=CLOCK)
    _check(caught.value, str(path), expect_of(path))


def _compare() -> dict[str, dict[str, str]]:
    rule = load_rules(RulesConfig()).get("iac.changed")
    assert rule is not None
    return dict(rule.params["compare"])


@pytest.mark.parametrize("path", files("terraform"), ids=lambda p: p.name)
def test_terraform_state_refused(path: Path) -> None:
    """Hostile Terraform state: StateError naming the file; NaN/Infinity never get through."""
    with pytest.raises(StateError) as caught:
        load_states([str(path)], _compare(), datetime.now(UTC), _unused, _unused, _unused)  # type: ignore[arg-type]
    _check(caught.value, str(path), None)


@pytest.mark.parametrize("path", files("keys"), ids=lambda p: p.name)
def test_verify_key_refused(path: Path) -> None:
    """`auditor verify --key FILE`: a file that is not a PEM public key is bad usage."""
    from auditor.commands.verify import trusted_keys

    args = argparse.Namespace(key=[path], config=None)
    with pytest.raises(BadInputError) as caught:
        trusted_keys(args)
    _check(caught.value, str(path), None)


def test_private_key_is_not_a_trusted_public_key(tmp_path: Path) -> None:
    """Passing the signing (private) key as --key is refused, not half-used."""
    from auditor.commands.verify import trusted_keys
    from auditor.report.signing import generate_ed25519_pem

    key = tmp_path / "private.pem"
    key.write_bytes(generate_ed25519_pem())
    with pytest.raises(BadInputError, match="not a PEM public key"):
        trusted_keys(argparse.Namespace(key=[key], config=None))


def _special(kind: str, tmp_path: Path) -> Path:
    if kind == "dev-zero":
        return Path("/dev/zero")
    if kind == "fifo":
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)  # nobody writes: opening it for reading must not block
        return fifo
    if kind == "directory":
        return tmp_path


SPECIAL = ["dev-zero", "fifo", "directory"]


@pytest.mark.parametrize("kind", SPECIAL)
def test_non_regular_files_are_refused_without_reading(kind: str, tmp_path: Path) -> None:
    """/dev/zero, a FIFO with no writer, a directory: refused at once by every loader
    (a read of /dev/zero would never end; opening a FIFO would block)."""
    path = _special(kind, tmp_path)
    with pytest.raises(ConfigError, match="not a regular file|Is a directory"):
        load_settings(path)
    if kind != "directory":  # a directory of rule packs is how `rules.paths` works
        with pytest.raises(RuleError, match="not a regular file"):
            load_rules(RulesConfig(builtin=False, paths=(str(path),)))
    with pytest.raises(RuleError, match="not a regular file|Is a directory"):
        load_exemptions(Settings(exemption_files=(path,)))
    with pytest.raises(StateError, match="not a regular file|Is a directory"):
        load_states([str(path)], {}, datetime.now(UTC), _unused, _unused, _unused)  # type: ignore[arg-type]


def test_oversized_files_are_refused_by_size_not_read(tmp_path: Path) -> None:
    """Size caps: a config over 1 MiB, a rule pack or exemption file over 4 MiB."""
    big = tmp_path / "big.yaml"
    with big.open("wb") as fh:
        fh.truncate(5 * 1024 * 1024)  # sparse: no disk, no memory
    with pytest.raises(ConfigError, match="larger than 1,048,576 bytes"):
        load_settings(big)
    with pytest.raises(RuleError, match="larger than 4,194,304 bytes"):
        load_rules(RulesConfig(builtin=False, paths=(str(big),)))
    with pytest.raises(RuleError, match="larger than 4,194,304 bytes"):
        load_exemptions(Settings(exemption_files=(big,)))


def test_data_files_cover_every_family() -> None:
    """The families of issue 12 each hold several inputs (a guard against an emptied dir)."""
    counts = {
        family: len(files(family))
        for family in ("config", "env", "rules", "exemptions", "terraform", "keys")
    }
    assert all(n >= 5 for n in counts.values()), counts
    assert (DATA / "config" / "alias_bomb.yaml").exists()

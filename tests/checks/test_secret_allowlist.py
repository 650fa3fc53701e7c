"""The per-estate allowlist: known non-secrets by hash or name glob, owned, expiring."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from auditor.checks.ec2 import ec2_userdata_secrets
from auditor.checks.ecs import ecs_env_secrets
from auditor.checks.result import Outcome
from auditor.engine import load_rules
from auditor.engine.history import with_secret_allowlist
from auditor.model import FixedClock, Scope, Snapshot, SnapshotView
from auditor.settings import RulesConfig, SecretAllowConfig, SecretsConfig
from tests.checks.resources import container, instance, secret_text, task_definition
from tests.conftest import NOW

HASH = "0123456789ab"  # the hash secret_text() carries
EMPTY_VIEW = SnapshotView(Snapshot("s", NOW, NOW, Scope((), (), ()), (), (), {}))


def _entry(**selector: str) -> dict[str, Any]:
    return {"reason": "a test fixture key", "owner": "team-a", "expires": "2027-01-31", **selector}


def _env_secret(name: str) -> dict[str, Any]:
    hit = {"location": f"container web env {name}", "detector": "x", "hash": "aaaaaaaaaaaa"}
    return {"name": name, "value": {**secret_text(), "secrets": [hit]}}


def test_hash_entry_silences_that_hash_only(clock: FixedClock) -> None:
    """An allowlisted hash passes; another hash, or an expired entry, still fails."""
    resource = instance(UserData=secret_text())
    allowed = {"allowlist": [_entry(hash=HASH)]}
    assert ec2_userdata_secrets(resource, allowed, EMPTY_VIEW, clock).outcome is Outcome.PASS
    other = {"allowlist": [_entry(hash="ffffffffffff")]}
    assert ec2_userdata_secrets(resource, other, EMPTY_VIEW, clock).outcome is Outcome.FAIL
    expired = {"allowlist": [{**_entry(hash=HASH), "expires": "2020-01-01"}]}
    assert ec2_userdata_secrets(resource, expired, EMPTY_VIEW, clock).outcome is Outcome.FAIL


def test_name_glob_silences_matching_variables(clock: FixedClock) -> None:
    """`*_PUBLIC_TOKEN` allows that variable; DB_PASSWORD in the same container still fails."""
    web = container(environment=[_env_secret("MAPS_PUBLIC_TOKEN"), _env_secret("DB_PASSWORD")])
    params = {"allowlist": [_entry(name="*_PUBLIC_TOKEN")]}
    result = ecs_env_secrets(task_definition(web), params, EMPTY_VIEW, clock)
    assert result.outcome is Outcome.FAIL
    assert [h["location"] for h in result.evidence["secrets"]] == ["container web env DB_PASSWORD"]


def test_config_entries_need_one_selector_and_owner() -> None:
    """Like exemptions: reason, owner, expires mandatory; exactly one of hash or name."""
    SecretAllowConfig.model_validate(_entry(hash=HASH))
    for bad in (
        _entry(),
        _entry(hash=HASH, name="X"),
        _entry(hash="not-hex"),
        {"hash": HASH, "reason": "r", "expires": "2027-01-01"},
    ):
        with pytest.raises(ValidationError):
            SecretAllowConfig.model_validate(bad)


def test_config_reaches_the_secret_rules_only() -> None:
    """secrets.allow becomes the allowlist param of the rules its `rule` glob names."""
    config = SecretsConfig(
        allow=(
            SecretAllowConfig.model_validate(_entry(hash=HASH)),
            SecretAllowConfig.model_validate({**_entry(name="X_*"), "rule": "ecs.*"}),
        )
    )
    rules = with_secret_allowlist(load_rules(RulesConfig()), config)
    ecs = rules.get("ecs.env_secrets")
    ec2 = rules.get("ec2.userdata_secrets")
    assert ecs is not None
    assert ec2 is not None
    assert [e.get("hash") or e.get("name") for e in ecs.params["allowlist"]] == [HASH, "X_*"]
    assert [e.get("hash") or e.get("name") for e in ec2.params["allowlist"]] == [HASH]
    assert ec2.params["allowlist"][0]["expires"] == date(2027, 1, 31).isoformat()
    assert NOW.year == 2026

"""The IAM policies in deploy/iam/ grant exactly what the code uses, and no more."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auditor.remediate.actions import (
    ACTIONS,
    IAM_PERMISSIONS,
    NO_REMEDIATE_TAG,
    required_iam_actions,
)

IAM_DIR = Path(__file__).resolve().parents[2] / "deploy" / "iam"


def statements(name: str) -> list[dict[str, Any]]:
    doc = json.loads((IAM_DIR / name).read_text(encoding="utf-8"))
    assert "2012-10-17" == doc["Version"]
    return list(doc["Statement"])


def actions_of(stmts: list[dict[str, Any]], effect: str) -> set[str]:
    out: set[str] = set()
    for s in stmts:
        if s["Effect"] == effect:
            acts = s["Action"]
            out.update([acts] if isinstance(acts, str) else acts)
    return out


def test_every_action_declares_its_permissions() -> None:
    """Each remediation action names at least one IAM action, in service:Operation form."""
    assert set(ACTIONS) == set(IAM_PERMISSIONS)
    for name, perms in IAM_PERMISSIONS.items():
        assert perms, name
        assert all(":" in p and "*" not in p for p in perms), name
        assert ACTIONS[name].operation in perms


def test_remediation_policy_is_exactly_the_declared_permissions() -> None:
    """Least privilege: the remediation policy allows every declared action and nothing else."""
    allowed = actions_of(statements("remediation.json"), "Allow")
    assert sorted(required_iam_actions()) == sorted(allowed)


def test_remediation_policy_denies_everything_on_no_remediate_tagged_resources() -> None:
    """The auditor:no-remediate tag is enforced by IAM too, for every remediation action."""
    denies = [s for s in statements("remediation.json") if s["Effect"] == "Deny"]
    assert sorted(required_iam_actions()) == sorted(actions_of(denies, "Deny"))
    conditions = [s["Condition"] for s in denies]
    assert [{"Null": {f"aws:ResourceTag/{NO_REMEDIATE_TAG}": "false"}}] == conditions


def test_read_only_policy_cannot_remediate() -> None:
    """The collection policy shares no action with remediation and has no wildcard actions."""
    allowed = actions_of(statements("audit-readonly.json"), "Allow")
    assert set() == allowed & required_iam_actions()
    assert [] == [a for a in allowed if "*" in a]
    reads = ("Describe", "List", "Get", "BatchGet")  # ecr:BatchGetImage reads manifests
    writes = {a for a in allowed if not a.split(":")[1].startswith(reads)}
    assert {"sts:AssumeRole"} == writes

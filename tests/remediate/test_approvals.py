"""Contract: approval gating only ever holds planned actions of gated rules, lets an approved
one through, and keeps a rejected or undecided one held (never upgrading a held action)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest

from auditor.model import ActionRecord, ActionStatus, Severity
from auditor.remediate.approvals import AWAITING, gate
from auditor.remediate.plan import Plan, PlanItem
from tests.conftest import NOW
from tests.remediate.builders import instance, tracked

TARGET = instance("i-0aaa")
FINDING = tracked("ec2.max_age", TARGET)


@dataclass(frozen=True)
class Decision:
    target_arn: str
    action: str
    decision: str
    decided_by: str
    decided_at: datetime


def _plan(status: ActionStatus = ActionStatus.PLANNED) -> Plan:
    record = ActionRecord(
        id="p1", cycle_id="c1", target_arn=TARGET.arn, target_kind="ec2.instance",
        action="terminate_instance", mode="enforce", status=status, reason="40 days old",
        finding_ids=(FINDING.id,), account=TARGET.account, region=TARGET.region, at=NOW,
    )  # fmt: skip
    item = PlanItem(record, Severity.HIGH, NOW, {"InstanceIds": ["i-0aaa"]})
    return Plan("c1", "enforce", (item,))


def _gate(patterns: tuple[str, ...], *decisions: Decision, plan: Plan | None = None) -> Plan:
    return gate(plan or _plan(), patterns, {FINDING.id: FINDING}, decisions)


def _decision(verdict: str) -> Decision:
    return Decision(TARGET.arn, "terminate_instance", verdict, "alice", NOW)


def test_no_gated_rules_changes_nothing() -> None:
    assert _plan() == _gate(())


@pytest.mark.parametrize("pattern", ["ec2.max_age", "ec2.*"])
def test_gated_rule_without_a_decision_waits(pattern: str) -> None:
    (item,) = _gate((pattern,)).items
    assert ActionStatus.HELD == item.status
    assert item.record.reason.startswith(AWAITING)
    assert "p1" != item.record.id  # a held record is a different record


def test_approved_action_stays_planned_and_says_who_approved() -> None:
    (item,) = _gate(("ec2.max_age",), _decision("approved")).items
    assert (ActionStatus.PLANNED, "40 days old; approved by alice") == (
        item.status, item.record.reason
    )  # fmt: skip
    assert {"InstanceIds": ["i-0aaa"]} == item.request


def test_rejected_action_stays_held() -> None:
    (item,) = _gate(("ec2.max_age",), _decision("rejected")).items
    assert (ActionStatus.HELD, "rejected by alice") == (item.status, item.record.reason)


def test_other_rules_are_not_gated() -> None:
    assert _plan() == _gate(("ecs.*",))


def test_an_approval_never_releases_an_action_a_safety_limit_held() -> None:
    held = _plan(ActionStatus.HELD)
    assert held == _gate(("ec2.max_age",), _decision("approved"), plan=held)

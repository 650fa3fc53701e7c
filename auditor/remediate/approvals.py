"""Approval gating: planned actions of rules that need an operator's approval wait for it.

Pure, and applied after the planner: it only ever turns PLANNED into HELD, so every safety
limit the planner enforced still holds. An approval is for one (target, action) and is used
up by the execution it allowed (the store decides which approvals are still open).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from auditor.model import ActionStatus, TrackedFinding, canonical_json, sha256_hex
from auditor.remediate.plan import Plan, PlanItem

AWAITING = "awaiting approval"


class Decision(Protocol):
    @property
    def target_arn(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def decision(self) -> str: ...
    @property
    def decided_by(self) -> str: ...
    @property
    def decided_at(self) -> datetime: ...


def needs_approval(rule_ids: Sequence[str], patterns: Sequence[str]) -> bool:
    """Whether any of the rules matches a `require_approval` pattern."""
    return any(fnmatch.fnmatchcase(r, p) for r in rule_ids for p in patterns)


def gate(
    decided: Plan,
    require_approval: Sequence[str],
    findings: Mapping[str, TrackedFinding],
    decisions: Sequence[Decision],
) -> Plan:
    """`decided` with every planned action of an approval-gated rule held unless approved."""
    if not require_approval:
        return decided
    latest = {(d.target_arn, d.action): d for d in decisions}
    items: list[PlanItem] = []
    for item in decided.items:
        record = item.record
        rules = [findings[f].finding.rule_id for f in record.finding_ids if f in findings]
        if item.status is not ActionStatus.PLANNED or not needs_approval(rules, require_approval):
            items.append(item)
            continue
        d = latest.get((record.target_arn, record.action))
        if d is not None and d.decision == "approved":
            reason = f"{record.reason}; approved by {d.decided_by}"
            items.append(replace(item, record=replace(record, reason=reason)))
            continue
        reason = (
            f"rejected by {d.decided_by}"
            if d is not None
            else f"{AWAITING} (rule {', '.join(sorted(set(rules)))}): {record.reason}"
        )
        held_id = sha256_hex(
            canonical_json(
                [decided.cycle_id, record.target_arn, record.action, "held", reason,
                 list(record.finding_ids)]
            )
        )[:32]  # fmt: skip
        held = replace(record, id=held_id, status=ActionStatus.HELD, reason=reason)
        items.append(replace(item, record=held))
    return replace(decided, items=tuple(items))

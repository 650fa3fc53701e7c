"""The plan: what the planner decided, item by item, before anything touches AWS."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from auditor.model import JSON, ActionRecord, ActionStatus, Severity


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One decision: the audit record, plus the exact API request when it is an action.

    `request` is what the executor sends (keyword arguments of the boto3 method named by
    `auditor.remediate.actions.ACTIONS[record.action]`); it is empty for `not_applicable`.
    `instances` lists the instances the action replaces (Auto Scaling actions), so the
    next cycle can tell whether the replacement finished.
    """

    record: ActionRecord
    severity: Severity
    first_seen: datetime
    request: Mapping[str, JSON] = field(default_factory=dict)
    instances: tuple[str, ...] = ()

    @property
    def status(self) -> ActionStatus:
        return self.record.status


@dataclass(frozen=True, slots=True)
class Plan:
    """Every planned, held and not-applicable item of one cycle, in a deterministic order."""

    cycle_id: str
    mode: str
    items: tuple[PlanItem, ...] = ()

    @property
    def records(self) -> tuple[ActionRecord, ...]:
        return tuple(item.record for item in self.items)

    def with_status(self, status: ActionStatus) -> tuple[PlanItem, ...]:
        return tuple(item for item in self.items if item.status is status)

    @property
    def planned(self) -> tuple[PlanItem, ...]:
        return self.with_status(ActionStatus.PLANNED)

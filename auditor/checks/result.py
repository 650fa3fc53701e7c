"""What a check returns: pass, fail (message + evidence) or unknown (reason).

Kept in `checks` (not `engine`) so a check module imports nothing but the model and this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from auditor.model import JSON, Clock, Resource, Severity, SnapshotView, parse_iso


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CheckResult:
    outcome: Outcome
    message: str = ""
    evidence: Mapping[str, JSON] = field(default_factory=dict)
    # a check may raise the rule's severity for one resource (e.g. critical when open to the world)
    severity: Severity | None = None


PASS = CheckResult(Outcome.PASS)


def fail(
    message: str, evidence: Mapping[str, JSON] | None = None, severity: Severity | None = None
) -> CheckResult:
    return CheckResult(Outcome.FAIL, message, evidence or {}, severity)


def unknown(reason: str, evidence: Mapping[str, JSON] | None = None) -> CheckResult:
    return CheckResult(Outcome.UNKNOWN, reason, evidence or {})


Check = Callable[[Resource, Mapping[str, Any], SnapshotView, Clock], CheckResult]


def unreadable(resource: Resource, *keys: str) -> CheckResult | None:
    """`unknown` when an attribute the check reads could not be collected this cycle."""
    if resource.unavailable:
        missing = [k for k in keys if k in resource.unavailable]
        if missing:
            return unknown(
                f"attribute {', '.join(missing)} could not be read this cycle",
                {"unavailable": missing},
            )
    return None


def older_than(then: datetime, now: datetime, days: float) -> bool:
    return (now - then).total_seconds() > days * 86400


def age_days(then: datetime, now: datetime) -> int:
    return (now - then).days


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 attribute as an aware datetime, or None when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None

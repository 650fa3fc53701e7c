"""What a check returns: pass, fail (message + evidence) or unknown (reason).

Kept in `checks` (not `engine`) so a check module imports nothing but the model and this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
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


@lru_cache(maxsize=256)
def _cutoff(now: datetime, days: float) -> str:
    return (now - timedelta(days=days)).astimezone(UTC).isoformat(timespec="seconds")


def text_older_than(text: Any, now: datetime, days: float) -> bool | None:
    """Is this ISO 8601 attribute more than `days` before `now`? None when it is not a date.

    Canonical UTC attributes (docs/resources.md) compare as strings, without parsing.
    """
    if (
        isinstance(text, str)
        and len(text) == 25
        and text.endswith("+00:00")
        and text[4] == "-"
        and text[10] == "T"
    ):
        return text < _cutoff(now, days)
    then = parse_time(text)
    return None if then is None else older_than(then, now, days)


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

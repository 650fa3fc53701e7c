"""What an alert says and where it goes, before any channel renders it.

The planner emits `Alert` values; a channel (a line of `notify.channels.CHANNELS`) renders
each into its own payloads (Slack Block Kit, a JSON document, ...) and its transport sends
them. Nothing here knows a channel's format.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from auditor.model import ActionRecord, CollectionGap, RuleInfo, Severity, TrackedFinding

AlertKind = Literal["new", "resolved", "remind", "gaps", "actions", "test"]


@dataclass(frozen=True, slots=True, order=True)
class Destination:
    """Where an alert goes: a channel kind (its line in the channel table) and a target the
    channel understands (an environment variable holding a URL, a Slack channel, ...). Stored
    in the outbox as "kind:target"."""

    kind: str
    target: str

    @classmethod
    def parse(cls, text: str) -> Destination:
        """The destination a stored "kind:target" names (an empty kind if there is no colon)."""
        kind, sep, target = text.partition(":")
        return cls(kind, target) if sep else cls("", text)

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


@dataclass(frozen=True, slots=True)
class Subscription:
    """A destination that gets every finding alert at or above `min_severity`, every coverage
    alert and every remediation alert (a channel's catch-all, next to Slack's routes)."""

    destination: Destination
    min_severity: Severity


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert to one destination. `key` is its idempotency key (a channel that splits an
    alert into several payloads suffixes it); `findings`, `gaps` and `actions` are what it
    lists, `summary` what it leaves out."""

    key: str
    kind: AlertKind
    destination: Destination
    title: str
    at: datetime
    report_url: str | None = None
    findings: tuple[TrackedFinding, ...] = ()
    gaps: tuple[CollectionGap, ...] = ()
    actions: tuple[ActionRecord, ...] = ()
    # finding id -> the remediation planned or taken for it
    remediation: Mapping[str, ActionRecord] = field(default_factory=dict)
    summary: str | None = None
    rules: Mapping[str, RuleInfo] = field(default_factory=dict)


def severity_order(tf: TrackedFinding) -> tuple[int, str, str]:
    """Most severe first, then by rule and resource: the order alerts list findings in."""
    f = tf.finding
    return (-f.severity.rank, f.rule_id, f.resource.arn)


def count_line(findings: Iterable[TrackedFinding]) -> str:
    """Counts like "12 critical, 300 high", in severity order."""
    counts = Counter(tf.finding.severity for tf in findings)
    return ", ".join(f"{counts[s]} {s.value}" for s in Severity if counts[s])


def age_text(delta: timedelta) -> str:
    """A duration as people say it: "5 hours", "3 days"."""
    hours = int(delta.total_seconds() // 3600)
    if hours >= 48:
        return f"{hours // 24} days"
    return f"{hours} hours" if hours != 1 else "1 hour"

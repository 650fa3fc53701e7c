"""Plan the alerts of one cycle: a pure function of the cycle's results.

Only changes are sent: new violations and resolved ones. Still-open findings stay quiet,
except critical ones, reminded every `reminder_hours` since first seen. Coverage gaps are
alerts too. Every alert has an idempotency key derived from what it says and where it
goes, so planning the same cycle twice enqueues nothing new. Alerts are channel-neutral
values (`notify.alert`); each channel renders them (`notify.channels`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from auditor.model import (
    JSON,
    ActionRecord,
    ActionStatus,
    CollectionGap,
    FindingDelta,
    RuleInfo,
    Severity,
    Status,
    TrackedFinding,
    canonical_json,
    iso,
    sha256_hex,
)
from auditor.notify.alert import (
    Alert,
    AlertKind,
    Destination,
    Subscription,
    age_text,
    count_line,
    severity_order,
)
from auditor.notify.routing import catch_all, route_finding, route_gap
from auditor.settings import SlackConfig

MAX_GAP_LINES = 40
GAPS = "gaps"  # the kind (key prefix) of coverage alerts
MAX_ACTION_LINES = 20


def _key(kind: str, destination: Destination, identity: JSON) -> str:
    return f"{kind}:{sha256_hex(canonical_json([str(destination), identity]))[:24]}"


def _unique(findings: Iterable[TrackedFinding]) -> list[TrackedFinding]:
    """One entry per (rule, resource), whatever number of frameworks or duplicates."""
    return list({tf.id: tf for tf in findings}.values())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


@dataclass(frozen=True, slots=True)
class _Cycle:
    """What every alert of the cycle shares."""

    rules: Mapping[str, RuleInfo]
    slack: SlackConfig
    report_url: str | None
    now: datetime
    also: tuple[Subscription, ...] = ()
    # when each coverage alert (by its stable key) was first queued: reminders count from it
    gap_alerts: Mapping[str, datetime] = field(default_factory=dict)
    remediation: Mapping[str, ActionRecord] = field(default_factory=dict)

    def top(self, findings: list[TrackedFinding]) -> tuple[list[TrackedFinding], ...]:
        ordered = sorted(findings, key=severity_order)
        n = self.slack.max_findings_per_message
        return ordered, ordered[:n], ordered[n:]

    def alert(
        self, key: str, kind: AlertKind, destination: Destination, title: str, **what: object
    ) -> Alert:
        return Alert(
            key,
            kind,
            destination,
            title,
            self.now,
            self.report_url,
            rules=self.rules,
            **what,  # type: ignore[arg-type]
        )

    def routes(self, findings: Iterable[TrackedFinding]) -> dict[Destination, list[TrackedFinding]]:
        out: dict[Destination, list[TrackedFinding]] = defaultdict(list)
        for tf in findings:
            for destination in route_finding(tf.finding, self.slack, self.also):
                out[destination].append(tf)
        return out


def _remediation_of(actions: Sequence[ActionRecord]) -> dict[str, ActionRecord]:
    """The first action of each finding it acts on."""
    notes: dict[str, ActionRecord] = {}
    for a in actions:
        for fid in a.finding_ids:
            notes.setdefault(fid, a)
    return notes


def _new_violations(c: _Cycle, destination: Destination, findings: list[TrackedFinding]) -> Alert:
    findings, shown, rest = c.top(findings)
    title = f"{_plural(len(findings), 'new violation')} ({count_line(findings)})"
    summary = f"…and {len(rest)} more: {count_line(rest)}" if rest else None
    identity = sorted([tf.id, iso(tf.first_seen)] for tf in findings)
    shown_ids = {tf.id for tf in shown}
    return c.alert(
        _key("new", destination, identity),
        "new",
        destination,
        title,
        findings=tuple(shown),
        summary=summary,
        remediation={k: v for k, v in c.remediation.items() if k in shown_ids},
    )


def _resolved(c: _Cycle, destination: Destination, findings: list[TrackedFinding]) -> Alert:
    findings, shown, rest = c.top(findings)
    title = f"{_plural(len(findings), 'violation')} resolved ({count_line(findings)})"
    summary = f"…and {len(rest)} more resolved: {count_line(rest)}" if rest else None
    identity = sorted([tf.id, iso(tf.resolved_at or tf.last_seen)] for tf in findings)
    return c.alert(
        _key("resolved", destination, identity),
        "resolved",
        destination,
        title,
        findings=tuple(shown),
        summary=summary,
    )


def _reminders(c: _Cycle, still_open: Iterable[TrackedFinding]) -> list[Alert]:
    interval = c.slack.reminder_hours * 3600
    out: list[Alert] = []
    for tf in sorted(still_open, key=severity_order):
        f = tf.finding
        if f.status is not Status.FAIL or f.severity is not Severity.CRITICAL:
            continue
        n = int((c.now - tf.first_seen).total_seconds() // interval)
        if n < 1:
            continue
        title = f"Critical violation still open after {age_text(c.now - tf.first_seen)}"
        for destination in route_finding(f, c.slack, c.also):
            key = f"remind:{tf.id}:{n}:{destination}"
            out.append(c.alert(key, "remind", destination, title, findings=(tf,)))
    return out


def _gap_identity(gap: CollectionGap) -> list[JSON]:
    return [
        gap.account,
        gap.region,
        gap.service.value,
        gap.operation,
        gap.error_code,
        gap.resource_arn,
    ]


def _gap_order(gap: CollectionGap) -> list[str]:
    """A sort key whatever the gap's level: a scope gap has no resource ARN (None)."""
    return [str(x) if x is not None else "" for x in _gap_identity(gap)]


def _gaps_by_destination(
    c: _Cycle, gaps: Sequence[CollectionGap], unknown: Sequence[TrackedFinding]
) -> dict[Destination, list[CollectionGap]]:
    per_destination: dict[Destination, list[CollectionGap]] = defaultdict(list)
    for gap in gaps:
        for destination in route_gap(gap, c.slack, c.also):
            per_destination[destination].append(gap)
    if unknown and not gaps:
        for destination in catch_all(c.slack, c.also):
            per_destination[destination] = []
    return per_destination


def _coverage(
    c: _Cycle, gaps: Sequence[CollectionGap], unknown: Sequence[TrackedFinding]
) -> list[Alert]:
    """A gap is alerted when it appears, then reminded once per `reminder_hours` counted from
    that first alert (never again because a clock boundary passed), not every cycle."""
    interval = timedelta(hours=c.slack.reminder_hours)
    out: list[Alert] = []
    for destination, dest_gaps in _gaps_by_destination(c, gaps, unknown).items():
        ordered = sorted(dest_gaps, key=_gap_order)
        more = len(ordered) - MAX_GAP_LINES
        summary_parts = [f"…and {more} more gaps"] if more > 0 else []
        if unknown:
            summary_parts.append(
                f"{len(unknown)} finding(s) are unknown: the rules could not be evaluated"
            )
        title = (
            f"Coverage incomplete: {len(dest_gaps)} area(s) could not be read"
            if dest_gaps
            else "Some findings could not be judged (unknown): the data they need is missing"
        )
        identity: JSON = (
            [_gap_identity(g) for g in ordered]
            if dest_gaps
            else ["unknown", sorted({tf.finding.rule_id for tf in unknown})]
        )
        base = _key(GAPS, destination, identity)
        first = c.gap_alerts.get(base)
        n = 0 if first is None else max(0, int((c.now - first) / interval))
        out.append(
            c.alert(
                base if n == 0 else f"{base}:r{n}",
                "gaps",
                destination,
                title,
                gaps=tuple(ordered[:MAX_GAP_LINES]),
                summary="; ".join(summary_parts) or None,
            )
        )
    return out


def _actions_by_destination(
    c: _Cycle, relevant: Sequence[ActionRecord], open_findings: Mapping[str, TrackedFinding]
) -> dict[Destination, list[ActionRecord]]:
    per_destination: dict[Destination, list[ActionRecord]] = defaultdict(list)
    for action in relevant:
        destinations: set[Destination] = set()
        for fid in action.finding_ids:
            if fid in open_findings:
                destinations.update(route_finding(open_findings[fid].finding, c.slack, c.also))
        if not destinations:
            destinations = set(catch_all(c.slack, c.also))
        for destination in sorted(destinations):
            per_destination[destination].append(action)
    return per_destination


def _remediation(
    c: _Cycle,
    actions: Sequence[ActionRecord],
    new_ids: set[str],
    open_findings: Mapping[str, TrackedFinding],
) -> list[Alert]:
    """Executed and failed actions, and actions first planned for a new finding; a dry-run
    plan repeated every cycle for the same finding is not news."""
    relevant = [
        a
        for a in actions
        if a.status in (ActionStatus.EXECUTED, ActionStatus.FAILED)
        or new_ids.intersection(a.finding_ids)
    ]
    out: list[Alert] = []
    for destination, dest_actions in _actions_by_destination(c, relevant, open_findings).items():
        ordered = sorted(dest_actions, key=lambda a: (a.status.value, a.target_arn, a.id))
        counts = Counter(a.status.value for a in ordered)
        title = "Remediation: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        more = len(ordered) - MAX_ACTION_LINES
        identity = sorted([a.id, a.status.value] for a in dest_actions)
        out.append(
            c.alert(
                _key("actions", destination, identity),
                "actions",
                destination,
                title,
                actions=tuple(ordered[:MAX_ACTION_LINES]),
                summary=f"…and {more} more actions" if more > 0 else None,
            )
        )
    return out


def plan_alerts(
    delta: FindingDelta,
    gaps: Sequence[CollectionGap],
    actions: Sequence[ActionRecord],
    rules_info: Mapping[str, RuleInfo],
    slack: SlackConfig,
    report_url: str | None,
    now: datetime,
    gap_alerts: Mapping[str, datetime] | None = None,
    also: Sequence[Subscription] = (),
) -> tuple[Alert, ...]:
    """Every alert this cycle should send, in sending order, each with its idempotency key.
    `gap_alerts`: when each coverage alert was first queued; `also`: channels' catch-alls."""
    c = _Cycle(
        rules_info,
        slack,
        report_url,
        now,
        tuple(also),
        gap_alerts or {},
        _remediation_of(actions),
    )
    new = [tf for tf in _unique(delta.new) if tf.finding.status is Status.FAIL]
    resolved = [tf for tf in _unique(delta.resolved) if tf.finding.status is Status.FAIL]
    unknown = [tf for tf in _unique(delta.open) if tf.finding.status is Status.UNKNOWN]
    out: list[Alert] = [_new_violations(c, d, fs) for d, fs in c.routes(new).items()]
    out.extend(_resolved(c, d, fs) for d, fs in c.routes(resolved).items())
    out.extend(_reminders(c, _unique(delta.still_open)))
    out.extend(_coverage(c, gaps, unknown))
    open_by_id = {tf.id: tf for tf in delta.open}
    out.extend(_remediation(c, actions, {tf.id for tf in new}, open_by_id))
    return tuple(out)


def coverage_alert_key(key: str) -> str | None:
    """The stable key of a coverage alert (without reminder or part suffix), else None."""
    parts = key.split(":")
    return ":".join(parts[:2]) if parts[0] == GAPS and len(parts) >= 2 else None

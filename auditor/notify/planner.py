"""Plan the Slack messages of one cycle: a pure function of the cycle's results.

Only changes are sent: new violations and resolved ones. Still-open findings stay quiet,
except critical ones, reminded every `reminder_hours` since first seen. Coverage gaps are
alerts too. Every message has an idempotency key derived from what it says and where it
goes, so planning the same cycle twice enqueues nothing new.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from auditor.model import (
    JSON,
    ActionRecord,
    ActionStatus,
    CollectionGap,
    FindingDelta,
    OutboxMessage,
    RuleInfo,
    Severity,
    Status,
    TrackedFinding,
    canonical_json,
    iso,
    sha256_hex,
)
from auditor.notify import render
from auditor.notify.redact import redact_payload
from auditor.notify.routing import default_destination, route_finding, route_gap
from auditor.settings import SlackConfig

MAX_GAP_LINES = 40
GAPS = "gaps"  # the kind (key prefix) of coverage alerts
MAX_ACTION_LINES = 20


def _key(kind: str, destination: str, identity: JSON) -> str:
    return f"{kind}:{sha256_hex(canonical_json([destination, identity]))[:24]}"


def _unique(findings: Iterable[TrackedFinding]) -> list[TrackedFinding]:
    """One entry per (rule, resource), whatever number of frameworks or duplicates."""
    return list({tf.id: tf for tf in findings}.values())


def _by_destination(
    findings: Iterable[TrackedFinding], slack: SlackConfig
) -> dict[str, list[TrackedFinding]]:
    out: dict[str, list[TrackedFinding]] = defaultdict(list)
    for tf in findings:
        for destination in route_finding(tf.finding, slack):
            out[destination].append(tf)
    return out


def _messages(
    kind: str,
    destination: str,
    identity: JSON,
    payloads: Sequence[dict[str, JSON]],
    now: datetime,
    *,
    key: str | None = None,
) -> list[OutboxMessage]:
    base = key or _key(kind, destination, identity)
    out: list[OutboxMessage] = []
    for i, payload in enumerate(payloads, 1):
        key = base if len(payloads) == 1 else f"{base}:{i}of{len(payloads)}"
        out.append(OutboxMessage(key, destination, redact_payload(payload), now))
    return out


def _action_notes(actions: Sequence[ActionRecord]) -> dict[str, str]:
    notes: dict[str, str] = {}
    for a in actions:
        for fid in a.finding_ids:
            notes.setdefault(
                fid, f":gear: remediation: {render.escape(a.action)} {a.status.value} ({a.mode})"
            )
    return notes


@dataclass(frozen=True, slots=True)
class _Cycle:
    """What every message of the cycle shares."""

    rules: Mapping[str, RuleInfo]
    slack: SlackConfig
    foot: str
    now: datetime
    # when each coverage alert (by its stable key) was first queued: reminders count from it
    gap_alerts: Mapping[str, datetime] = field(default_factory=dict)

    def top(self, findings: list[TrackedFinding]) -> tuple[list[TrackedFinding], ...]:
        ordered = sorted(findings, key=render.severity_order)
        n = self.slack.max_findings_per_message
        return ordered, ordered[:n], ordered[n:]


def _new_violations(
    c: _Cycle, destination: str, findings: list[TrackedFinding], notes: Mapping[str, str]
) -> list[OutboxMessage]:
    findings, shown, rest = c.top(findings)
    n = len(findings)
    title = f"{n} new violation{'s' if n != 1 else ''} ({render.count_line(findings)})"
    summary = f"…and {len(rest)} more: {render.count_line(rest)}" if rest else None
    blocks = [render.finding_block(tf, c.rules, note=notes.get(tf.id)) for tf in shown]
    payloads = render.pack(":rotating_light: " + title, title, blocks, c.foot, summary)
    identity = sorted([tf.id, iso(tf.first_seen)] for tf in findings)
    return _messages("new", destination, identity, payloads, c.now)


def _resolved(c: _Cycle, destination: str, findings: list[TrackedFinding]) -> list[OutboxMessage]:
    findings, shown, rest = c.top(findings)
    n = len(findings)
    title = f"{n} violation{'s' if n != 1 else ''} resolved ({render.count_line(findings)})"
    summary = f"…and {len(rest)} more resolved: {render.count_line(rest)}" if rest else None
    blocks = [render.resolved_block(tf, c.rules) for tf in shown]
    payloads = render.pack(":white_check_mark: " + title, title, blocks, c.foot, summary)
    identity = sorted([tf.id, iso(tf.resolved_at or tf.last_seen)] for tf in findings)
    return _messages("resolved", destination, identity, payloads, c.now)


def _reminders(c: _Cycle, still_open: Iterable[TrackedFinding]) -> list[OutboxMessage]:
    rules, slack, foot, now = c.rules, c.slack, c.foot, c.now
    interval = slack.reminder_hours * 3600
    out: list[OutboxMessage] = []
    for tf in sorted(still_open, key=render.severity_order):
        f = tf.finding
        if f.status is not Status.FAIL or f.severity is not Severity.CRITICAL:
            continue
        n = int((now - tf.first_seen).total_seconds() // interval)
        if n < 1:
            continue
        age = render.age_text(now - tf.first_seen)
        title = f"Critical violation still open after {age}"
        for destination in route_finding(f, slack):
            payload = render.pack(
                ":alarm_clock: " + title, title, [render.finding_block(tf, rules)], foot
            )[0]
            key = f"remind:{tf.id}:{n}:{destination}"
            out.append(OutboxMessage(key, destination, redact_payload(payload), now))
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


def _coverage(
    c: _Cycle, gaps: Sequence[CollectionGap], unknown: Sequence[TrackedFinding]
) -> list[OutboxMessage]:
    """A gap is alerted when it appears, then reminded once per `reminder_hours` counted from
    that first alert (never again because a clock boundary passed), not every cycle."""
    slack, foot, now = c.slack, c.foot, c.now
    interval = timedelta(hours=slack.reminder_hours)
    per_destination: dict[str, list[CollectionGap]] = defaultdict(list)
    for gap in gaps:
        for destination in route_gap(gap, slack):
            per_destination[destination].append(gap)
    if unknown and not gaps:
        default = default_destination(slack)
        if default is not None:
            per_destination[default] = []
    out: list[OutboxMessage] = []
    for destination, dest_gaps in per_destination.items():
        ordered = sorted(dest_gaps, key=lambda g: [str(x) for x in _gap_identity(g)])
        lines = [f":warning: {render.escape(render.gap_line(g))}" for g in ordered]
        shown, more = lines[:MAX_GAP_LINES], len(lines) - MAX_GAP_LINES
        blocks = render.lines_sections(shown)
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
        summary = "; ".join(summary_parts) or None
        payloads = render.pack(":warning: " + title, title, blocks, foot, summary)
        identity: JSON = (
            sorted(_gap_identity(g) for g in dest_gaps)
            if dest_gaps
            else ["unknown", sorted({tf.finding.rule_id for tf in unknown})]
        )
        base = _key(GAPS, destination, identity)
        first = c.gap_alerts.get(base)
        n = 0 if first is None else max(0, int((now - first) / interval))
        key = base if n == 0 else f"{base}:r{n}"
        out.extend(_messages(GAPS, destination, identity, payloads, now, key=key))
    return out


def _remediation(
    c: _Cycle,
    actions: Sequence[ActionRecord],
    new_ids: set[str],
    open_findings: Mapping[str, TrackedFinding],
) -> list[OutboxMessage]:
    """Executed and failed actions, and actions first planned for a new finding; a dry-run
    plan repeated every cycle for the same finding is not news."""
    slack, foot, now = c.slack, c.foot, c.now
    relevant = [
        a
        for a in actions
        if a.status in (ActionStatus.EXECUTED, ActionStatus.FAILED)
        or new_ids.intersection(a.finding_ids)
    ]
    per_destination: dict[str, list[ActionRecord]] = defaultdict(list)
    for action in relevant:
        destinations: set[str] = set()
        for fid in action.finding_ids:
            if fid in open_findings:
                destinations.update(route_finding(open_findings[fid].finding, slack))
        if not destinations:
            default = default_destination(slack)
            destinations = {default} if default is not None else set()
        for destination in sorted(destinations):
            per_destination[destination].append(action)
    out: list[OutboxMessage] = []
    for destination, dest_actions in per_destination.items():
        ordered = sorted(dest_actions, key=lambda a: (a.status.value, a.target_arn, a.id))
        counts: dict[str, int] = defaultdict(int)
        for a in ordered:
            counts[a.status.value] += 1
        title = "Remediation: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        lines = [render.action_line(a) for a in ordered[:MAX_ACTION_LINES]]
        more = len(ordered) - MAX_ACTION_LINES
        summary = f"…and {more} more actions" if more > 0 else None
        payloads = render.pack(
            ":wrench: " + title, title, render.lines_sections(lines), foot, summary
        )
        identity = sorted([a.id, a.status.value] for a in dest_actions)
        out.extend(_messages("actions", destination, identity, payloads, now))
    return out


def plan_messages(
    delta: FindingDelta,
    gaps: Sequence[CollectionGap],
    actions: Sequence[ActionRecord],
    rules_info: Mapping[str, RuleInfo],
    slack: SlackConfig,
    report_url: str | None,
    now: datetime,
    gap_alerts: Mapping[str, datetime] | None = None,
) -> tuple[OutboxMessage, ...]:
    """Every message this cycle should send, in sending order, each with its idempotency key.
    `gap_alerts`: when each coverage alert was first queued (`coverage_alert_times`)."""
    c = _Cycle(rules_info, slack, render.footer(now, report_url), now, gap_alerts or {})
    new = [tf for tf in _unique(delta.new) if tf.finding.status is Status.FAIL]
    resolved = [tf for tf in _unique(delta.resolved) if tf.finding.status is Status.FAIL]
    unknown = [tf for tf in _unique(delta.open) if tf.finding.status is Status.UNKNOWN]
    notes = _action_notes(actions)
    out: list[OutboxMessage] = []
    for destination, findings in _by_destination(new, slack).items():
        out.extend(_new_violations(c, destination, findings, notes))
    for destination, findings in _by_destination(resolved, slack).items():
        out.extend(_resolved(c, destination, findings))
    out.extend(_reminders(c, _unique(delta.still_open)))
    out.extend(_coverage(c, gaps, unknown))
    open_by_id = {tf.id: tf for tf in delta.open}
    out.extend(_remediation(c, actions, {tf.id for tf in new}, open_by_id))
    return tuple(out)


def coverage_alert_key(key: str) -> str | None:
    """The stable key of a coverage alert (without reminder or part suffix), else None."""
    parts = key.split(":")
    return ":".join(parts[:2]) if parts[0] == GAPS and len(parts) >= 2 else None

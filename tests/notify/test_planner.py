"""What each cycle's Slack messages say, and which cycles stay quiet."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from auditor.model import (
    ActionRecord,
    ActionStatus,
    FindingDelta,
    OutboxMessage,
    Severity,
    Status,
    TrackedFinding,
)
from auditor.notify import plan_messages
from auditor.settings import SlackConfig
from tests.conftest import NOW
from tests.notify.factories import RULES, gap, tracked
from tests.notify.helpers import all_text, headers, sections

DEFAULT = "webhook:AUDITOR_SLACK_WEBHOOK"
REPORT = "https://audit.example.com/reports/r-2026-11-22"


def plan(
    new: tuple[TrackedFinding, ...] = (),
    still_open: tuple[TrackedFinding, ...] = (),
    resolved: tuple[TrackedFinding, ...] = (),
    *,
    slack: SlackConfig | None = None,
    gaps: tuple[object, ...] = (),
    actions: tuple[ActionRecord, ...] = (),
    now: object = NOW,
    gap_alerts: dict[str, datetime] | None = None,
) -> tuple[OutboxMessage, ...]:
    return plan_messages(
        FindingDelta(new=new, still_open=still_open, resolved=resolved),
        gaps,  # type: ignore[arg-type]
        actions,
        RULES,
        slack or SlackConfig(),
        REPORT,
        now,  # type: ignore[arg-type]
        gap_alerts,
    )


def test_new_violation_shows_rule_severity_resource_owner_evidence_and_report() -> None:
    """An SRE can act on the message alone: what, how bad, where, whose, why, and the link."""
    finding = tracked(
        "ec2.ssh_keypair_attached",
        1,
        tags={"owner": "team-payments", "Name": "web"},
        evidence={"key_name": "deploy-2024", "launch_template": "lt-0abc"},
        message="Instance was launched with key pair deploy-2024",
    )
    (message,) = plan(new=(finding,))
    (section,) = sections(message.payload)
    expected_lines = [
        ":large_orange_circle: *HIGH* · *Instance launched with an SSH key pair* "
        "(`ec2.ssh_keypair_attached`)",
        "`arn:aws:ec2:us-east-1:111111111111:instance/i-00000000000000001`",
        "account `111111111111` · `us-east-1` · owner `team-payments`",
        "Instance was launched with key pair deploy-2024",
        "> evidence: key_name=deploy-2024; launch_template=lt-0abc",
    ]
    assert expected_lines == section.splitlines()
    assert message.destination == DEFAULT
    assert f"<{REPORT}|Open the report>" in all_text(message.payload)
    assert headers([message]) == [(DEFAULT, ":rotating_light: 1 new violation (1 high)")]


def test_nothing_changed_sends_nothing() -> None:
    """Still-open findings are not re-sent: a quiet cycle is a quiet channel."""
    still = (
        tracked("ec2.ssh_keypair_attached", 1, first_seen=NOW - timedelta(days=3)),
        tracked("ec2.secrets_in_user_data", 2, first_seen=NOW - timedelta(hours=23)),
    )
    assert plan(still_open=still) == ()


def test_critical_still_open_is_reminded_once_per_interval() -> None:
    """A critical finding open for 25 h gets reminder 1, at 49 h reminder 2; keys say which."""
    young = tracked("ec2.secrets_in_user_data", 1, first_seen=NOW - timedelta(hours=23))
    day = tracked("ec2.secrets_in_user_data", 2, first_seen=NOW - timedelta(hours=25))
    two_days = tracked("ec2.secrets_in_user_data", 3, first_seen=NOW - timedelta(hours=49))
    high = tracked("ec2.ssh_keypair_attached", 4, first_seen=NOW - timedelta(hours=49))
    messages = plan(still_open=(young, day, two_days, high))
    assert {
        f"remind:{day.id}:1:{DEFAULT}",
        f"remind:{two_days.id}:2:{DEFAULT}",
    } == {m.key for m in messages}
    assert "Critical violation still open after 2 days" in all_text(
        next(m for m in messages if two_days.id in m.key).payload
    )


def test_reminder_interval_comes_from_config() -> None:
    """reminder_hours: 4 reminds a critical finding open for 9 hours (the 2nd reminder)."""
    finding = tracked("ec2.secrets_in_user_data", 1, first_seen=NOW - timedelta(hours=9))
    (message,) = plan(still_open=(finding,), slack=SlackConfig(reminder_hours=4))
    assert f"remind:{finding.id}:2:{DEFAULT}" == message.key


def test_resolved_findings_are_announced() -> None:
    """Resolved violations get one message saying what was fixed and how long it was open."""
    fixed = tracked(
        "ec2.ssh_keypair_attached",
        1,
        first_seen=NOW - timedelta(hours=50),
        resolved_at=NOW,
    )
    (message,) = plan(resolved=(fixed,))
    assert headers([message]) == [(DEFAULT, ":white_check_mark: 1 violation resolved (1 high)")]
    assert "open for 2 days" in sections(message.payload)[0]


def test_findings_below_min_severity_are_not_sent() -> None:
    """min_severity: high (the default) keeps medium findings out of Slack."""
    assert plan(new=(tracked("ec2.max_age", 1),)) == ()
    (message,) = plan(
        new=(tracked("ec2.max_age", 1),), slack=SlackConfig(min_severity=Severity.MEDIUM)
    )
    assert "ec2.max_age" in all_text(message.payload)


def test_one_entry_per_rule_and_resource() -> None:
    """A finding mapped to several frameworks, or listed twice, is shown once."""
    finding = tracked("ec2.ssh_keypair_attached", 1)
    (message,) = plan(new=(finding, finding))
    assert len(sections(message.payload)) == 1
    assert "NIST" not in all_text(message.payload)


def test_exempt_and_unknown_findings_are_not_violations() -> None:
    """Exempt findings stay quiet; unknown ones are reported as a coverage problem."""
    exempt = tracked("ec2.ssh_keypair_attached", 1, status=Status.EXEMPT)
    unknown = tracked("ec2.ssh_keypair_attached", 2, status=Status.UNKNOWN)
    (message,) = plan(new=(exempt, unknown))
    assert (headers([message])) == [
        (
            DEFAULT,
            ":warning: Some findings could not be judged (unknown): the data they need is missing",
        )
    ]
    assert "1 finding(s) are unknown" in all_text(message.payload)


def test_coverage_gap_is_an_alert_whatever_the_severity_floor() -> None:
    """A region that could not be read is said in plain words, even with min_severity critical."""
    messages = plan(gaps=(gap(),), slack=SlackConfig(min_severity=Severity.CRITICAL))
    (message,) = messages
    assert sections(message.payload) == [
        ":warning: eu-west-1 in account 222222222222 could not be read "
        "(AccessDeniedException on ecs:ListClusters); affects ecs.cluster, ecs.service"
    ]


def test_scope_and_resource_gaps_of_one_operation_plan_one_alert() -> None:
    """Regression: a scope gap (no ARN) and a resource gap of the same operation used to
    crash planning with a TypeError (None < str), failing the whole cycle."""
    scope = gap(operation="ec2:DescribeLaunchTemplateVersions")
    one = replace(scope, resource_arn="arn:aws:ec2:eu-west-1:222222222222:launch-template/lt-1")
    organisation = replace(scope, account="*", region="*")
    (message,) = plan(gaps=(one, scope, organisation))
    text = all_text(message.payload)
    assert "3 area(s) could not be read" in text
    assert "every region in every account could not be read" in text
    assert [m.key for m in plan(gaps=(scope, organisation, one))] == [message.key]


def test_persistent_gap_is_not_repeated_every_cycle() -> None:
    """The same gap in the next cycle plans the same key (the outbox drops it); a day after
    its first alert it is reminded once, with a new key."""
    (first,) = plan(gaps=(gap(),))
    alerted = {first.key: NOW}
    again = plan(gaps=(gap(),), now=NOW + timedelta(minutes=15), gap_alerts=alerted)
    next_day = plan(gaps=(gap(),), now=NOW + timedelta(hours=24), gap_alerts=alerted)
    assert [first.key] == [m.key for m in again]
    assert [f"{first.key}:r1"] == [m.key for m in next_day]


def test_a_persistent_gap_is_not_realerted_at_midnight() -> None:
    """Reminders count from the first alert, not from clock boundaries: a gap first alerted
    at 23:50 plans the same key at 00:05 (the old wall-clock bucket changed there)."""
    late = NOW.replace(hour=23, minute=50)
    (first,) = plan(gaps=(gap(),), now=late)
    after_midnight = plan(
        gaps=(gap(),), now=late + timedelta(minutes=15), gap_alerts={first.key: late}
    )
    assert [first.key] == [m.key for m in after_midnight]


def test_keys_are_stable_across_replanning_and_differ_by_content() -> None:
    """Replanning the same delta later yields the same keys; a different finding set does not."""
    a = tracked("ec2.ssh_keypair_attached", 1)
    b = tracked("ec2.ssh_keypair_attached", 2)
    first = plan(new=(a, b))
    retry = plan(new=(b, a), now=NOW + timedelta(minutes=3))
    other = plan(new=(a,))
    assert [m.key for m in first] == [m.key for m in retry]
    assert [m.key for m in first] != [m.key for m in other]


def test_reopened_finding_is_new_news() -> None:
    """The same (rule, resource) failing again after being resolved is alerted again."""
    before = plan(new=(tracked("ec2.ssh_keypair_attached", 1),))
    reopened = tracked("ec2.ssh_keypair_attached", 1, first_seen=NOW + timedelta(days=2))
    after = plan(new=(reopened,), now=NOW + timedelta(days=2))
    assert before[0].key != after[0].key


def test_remediation_actions_are_summarized() -> None:
    """Executed actions get a message; a planned action for a new finding is noted on it;
    the same dry-run plan for a still-open finding every cycle is not news."""
    new = tracked("ec2.ssh_keypair_attached", 1)
    old = tracked("ec2.ssh_keypair_attached", 2, first_seen=NOW - timedelta(hours=2))

    def action(n: int, finding: TrackedFinding, status: ActionStatus, mode: str) -> ActionRecord:
        return ActionRecord(
            id=f"act-{n}",
            cycle_id="c1",
            target_arn=f"arn:aws:autoscaling:us-east-1:111111111111:autoScalingGroup:x:name/web-{n}",
            target_kind="autoscaling.group",
            action="start_instance_refresh",
            mode=mode,
            status=status,
            reason="instance launched with an SSH key pair",
            finding_ids=(finding.id,),
            account="111111111111",
            region="us-east-1",
            at=NOW,
        )

    actions = (
        action(1, new, ActionStatus.PLANNED, "dry-run"),
        action(2, old, ActionStatus.PLANNED, "dry-run"),
    )
    messages = plan(new=(new,), still_open=(old,), actions=actions)
    assert headers(messages) == [
        (DEFAULT, ":rotating_light: 1 new violation (1 high)"),
        (DEFAULT, ":wrench: Remediation: 1 planned"),
    ]
    assert sections(messages[0].payload)[0].endswith(
        ":gear: remediation: start_instance_refresh planned (dry-run)"
    )
    assert "web-1" in all_text(messages[1].payload)
    assert "web-2" not in all_text(messages[1].payload)

    executed = plan(still_open=(old,), actions=(action(3, old, ActionStatus.EXECUTED, "enforce"),))
    assert headers(executed) == [(DEFAULT, ":wrench: Remediation: 1 executed")]


def test_plan_is_pure() -> None:
    """Same inputs, same messages: evaluation can be replayed from a stored cycle."""
    delta = (tracked("ec2.ssh_keypair_attached", 1), tracked("ec2.secrets_in_user_data", 2))
    assert plan(new=delta, gaps=(gap(),)) == plan(new=delta, gaps=(gap(),))

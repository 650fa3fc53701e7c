"""Alerts reach the people who own the resource, not one channel with everything."""

from __future__ import annotations

from auditor.model import Finding, FindingDelta, Severity
from auditor.notify import plan_messages
from auditor.notify.routing import route_finding
from auditor.settings import SlackConfig, SlackRoute
from tests.conftest import NOW
from tests.notify.factories import RULES, tracked
from tests.notify.helpers import all_text

DEFAULT = "webhook:AUDITOR_SLACK_WEBHOOK"


def routed(finding: Finding, slack: SlackConfig) -> tuple[str, ...]:
    """The destinations of a finding, as they are stored ("kind:target")."""
    return tuple(str(d) for d in route_finding(finding, slack))


CONFIG = SlackConfig(
    token_env="SLACK_BOT_TOKEN",
    default_channel="#infra-alerts",
    routes=(
        SlackRoute(destination="#oncall", min_severity=Severity.CRITICAL),
        SlackRoute(destination="env:SANDBOX_WEBHOOK", accounts=("333333333333",)),
        SlackRoute(destination="#containers", rules=("ecs.*",)),
        SlackRoute(destination="#data", tag={"team": "data-*"}, min_severity=Severity.MEDIUM),
    ),
    tag_channels={"team": {"payments": "#payments-alerts"}},
)


def test_unmatched_finding_goes_to_the_default_channel() -> None:
    """No route applies: the default destination (the channel, since a token is set)."""
    assert routed(tracked("ec2.ssh_keypair_attached", 1).finding, CONFIG) == (
        "channel:#infra-alerts",
    )


def test_route_by_severity() -> None:
    """Critical findings page #oncall (and only that route matched, so no default)."""
    assert routed(tracked("ec2.secrets_in_user_data", 1).finding, CONFIG) == ("channel:#oncall",)


def test_route_by_account_to_a_webhook() -> None:
    """A sandbox account's findings go to its own webhook, named by env var."""
    finding = tracked("ec2.ssh_keypair_attached", 1, account="333333333333").finding
    assert routed(finding, CONFIG) == ("webhook:SANDBOX_WEBHOOK",)


def test_route_by_rule_glob() -> None:
    """`ecs.*` catches every ECS rule."""
    assert routed(tracked("ecs.mutable_image_tag", 1).finding, CONFIG) == ("channel:#containers",)


def test_route_by_tag_glob_with_its_own_severity_floor() -> None:
    """team=data-* gets medium findings even though the global floor is high; others do not."""
    data = tracked("ec2.max_age", 1, tags={"team": "data-lake"}).finding
    other = tracked("ec2.max_age", 2, tags={"team": "web"}).finding
    assert routed(data, CONFIG) == ("channel:#data",)
    assert routed(other, CONFIG) == ()


def test_tag_channel_map() -> None:
    """team=payments maps to #payments-alerts through tag_channels."""
    finding = tracked("ec2.ssh_keypair_attached", 1, tags={"team": "payments"}).finding
    assert routed(finding, CONFIG) == ("channel:#payments-alerts",)


def test_every_matching_route_gets_its_own_message() -> None:
    """A critical payments finding goes to #oncall and #payments-alerts, once each, and each
    channel's message lists only its findings."""
    critical = tracked("ec2.secrets_in_user_data", 1, tags={"team": "payments"})
    plain = tracked("ec2.ssh_keypair_attached", 2)
    messages = plan_messages(
        FindingDelta(new=(critical, plain), still_open=(), resolved=()),
        (),
        (),
        RULES,
        CONFIG,
        None,
        NOW,
    )
    by_destination = {m.destination: all_text(m.payload) for m in messages}
    assert {"channel:#oncall", "channel:#payments-alerts", "channel:#infra-alerts"} == set(
        by_destination
    )
    assert len(messages) == 3
    assert "i-00000000000000002" in by_destination["channel:#infra-alerts"]
    assert "i-00000000000000002" not in by_destination["channel:#oncall"]


def test_webhook_is_the_default_without_a_token() -> None:
    """With only the webhook configured, everything goes to it."""
    finding = tracked("ec2.ssh_keypair_attached", 1).finding
    assert routed(finding, SlackConfig(default_channel="#ignored")) == (DEFAULT,)

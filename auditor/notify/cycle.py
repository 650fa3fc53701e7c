"""The pipeline's calls into notify: who is listening, what to queue, delivering the outbox.

Planning happens before the cycle commits (the messages are part of its transaction);
delivery happens last, from the outbox, through `deliver_pending`: the one delivery path of
scans, the daemon, event micro-cycles and the demo.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from auditor.model import ActionRecord, Clock, CollectionGap, FindingDelta, OutboxMessage, RuleInfo
from auditor.notify.alert import Destination, Subscription
from auditor.notify.channels import messages
from auditor.notify.deliver import DeliveryResult, RetryPolicy, deliver
from auditor.notify.outbox import Outbox
from auditor.notify.planner import plan_alerts
from auditor.notify.routing import configured_destinations, destination_of
from auditor.notify.slack import FILE_WEBHOOK, WEBHOOK, webhook_url
from auditor.notify.transport import Transport
from auditor.settings import SlackConfig


def active_destinations(
    slack: SlackConfig, also: Sequence[Subscription] = ()
) -> tuple[Destination, ...]:
    """Destinations the user configured: named explicitly (routes, tag channels, a default
    channel, an explicit webhook setting), whose secret is present, or subscribed by a
    channel's own section. Reads the environment. Empty means nothing is set up, and the
    pipeline should not queue alerts."""
    explicit_webhook = bool({"webhook_url_env", "webhook_url_file"} & slack.model_fields_set)
    default_webhook = (FILE_WEBHOOK, Destination(WEBHOOK, slack.webhook_url_env or ""))
    out: list[Destination] = []
    for destination in configured_destinations(slack):
        if (
            destination not in default_webhook
            or explicit_webhook
            or webhook_url(str(destination), slack)
        ):
            out.append(destination)
    if slack.default_channel and not (slack.token_env or slack.token_file):
        out.append(destination_of(slack.default_channel))  # named, so report it as failing
    out.extend(s.destination for s in also)
    return tuple(dict.fromkeys(out))


def plan_messages(
    delta: FindingDelta,
    gaps: Sequence[CollectionGap],
    actions: Sequence[ActionRecord],
    rules_info: Mapping[str, RuleInfo],
    slack: SlackConfig,
    report_url: str | None,
    now: datetime,
    gap_alerts: Mapping[str, datetime] | None = None,
    also: Sequence[Subscription] = (),
) -> tuple[OutboxMessage, ...]:
    """The outbox messages of this cycle: its alerts (`plan_alerts`), each rendered by its
    destination's channel."""
    return messages(
        plan_alerts(delta, gaps, actions, rules_info, slack, report_url, now, gap_alerts, also)
    )


def deliver_pending(
    outbox: Outbox,
    transport: Transport,
    slack: SlackConfig,
    clock: Clock,
    *,
    deadline_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> DeliveryResult:
    """Deliver everything the outbox holds, each request bounded by slack.timeout_seconds and
    the whole by `deadline_seconds`, whatever the channel."""
    return deliver(
        outbox,
        transport,
        clock,
        deadline_seconds=deadline_seconds,
        policy=RetryPolicy(request_timeout_seconds=slack.timeout_seconds),
        sleep=sleep,
        monotonic=monotonic,
    )

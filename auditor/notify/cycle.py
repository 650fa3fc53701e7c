"""The pipeline's one call after a cycle is committed: plan, enqueue, deliver."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from auditor.model import ActionRecord, Clock, CollectionGap, FindingDelta, RuleInfo
from auditor.notify.deliver import DeliveryResult, RetryPolicy, deliver
from auditor.notify.outbox import Outbox
from auditor.notify.planner import plan_messages
from auditor.notify.routing import (
    FILE_WEBHOOK,
    WEBHOOK,
    configured_destinations,
    destination_of,
)
from auditor.notify.transport import Transport, webhook_url
from auditor.settings import SlackConfig


def active_destinations(slack: SlackConfig) -> tuple[str, ...]:
    """Destinations the user configured: named explicitly (routes, tag channels, a default
    channel, an explicit webhook setting) or whose secret is present. Reads the environment.
    Empty means Slack is not set up, and the pipeline should not queue alerts."""
    explicit_webhook = bool({"webhook_url_env", "webhook_url_file"} & slack.model_fields_set)
    out: list[str] = []
    for destination in configured_destinations(slack):
        is_default_webhook = destination == FILE_WEBHOOK or destination == (
            WEBHOOK + (slack.webhook_url_env or "")
        )
        if not is_default_webhook or explicit_webhook or webhook_url(destination, slack):
            out.append(destination)
    if slack.default_channel and not (slack.token_env or slack.token_file):
        out.append(destination_of(slack.default_channel))  # named, so report it as failing
    return tuple(dict.fromkeys(out))


def notify_cycle(  # the pipeline passes everything the cycle produced
    outbox: Outbox,
    transport: Transport,
    delta: FindingDelta,
    gaps: Sequence[CollectionGap],
    actions: Sequence[ActionRecord],
    rules_info: Mapping[str, RuleInfo],
    slack: SlackConfig,
    report_url: str | None,
    clock: Clock,
    *,
    deadline_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> DeliveryResult:
    """Queue this cycle's alerts (idempotently) and deliver everything pending, including
    what earlier cycles could not deliver, within `deadline_seconds`."""
    messages = plan_messages(delta, gaps, actions, rules_info, slack, report_url, clock.now())
    outbox.enqueue(messages)
    return deliver_pending(
        outbox,
        transport,
        slack,
        clock,
        deadline_seconds=deadline_seconds,
        sleep=sleep,
        monotonic=monotonic,
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
    the whole by `deadline_seconds`: the one delivery path of scans, the daemon and the demo."""
    return deliver(
        outbox,
        transport,
        clock,
        deadline_seconds=deadline_seconds,
        policy=RetryPolicy(request_timeout_seconds=slack.timeout_seconds),
        sleep=sleep,
        monotonic=monotonic,
    )

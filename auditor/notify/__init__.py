"""Alerts: plan (pure, channel-neutral) -> render per channel -> outbox (durable) -> deliver
(bounded, retried). Channels: Slack (`notify/slack/`) and a generic JSON webhook."""

from auditor.notify.alert import Alert, Destination, Subscription
from auditor.notify.capture import CaptureTransport, preview
from auditor.notify.channels import CHANNELS, Transports, messages, subscriptions
from auditor.notify.cycle import active_destinations, deliver_pending, plan_messages
from auditor.notify.deliver import DeliveryResult, RetryPolicy, deliver
from auditor.notify.outbox import MemoryOutbox, Outbox
from auditor.notify.planner import GAPS, coverage_alert_key, plan_alerts
from auditor.notify.redact import redact_payload
from auditor.notify.slack import SlackTransport
from auditor.notify.transport import Channel, SendResult, Transport

__all__ = [
    "CHANNELS",
    "GAPS",
    "Alert",
    "CaptureTransport",
    "Channel",
    "DeliveryResult",
    "Destination",
    "MemoryOutbox",
    "Outbox",
    "RetryPolicy",
    "SendResult",
    "SlackTransport",
    "Subscription",
    "Transport",
    "Transports",
    "active_destinations",
    "coverage_alert_key",
    "deliver",
    "deliver_pending",
    "messages",
    "plan_alerts",
    "plan_messages",
    "preview",
    "redact_payload",
    "subscriptions",
]

"""Slack alerts: plan (pure) -> outbox (durable) -> deliver (bounded, retried)."""

from auditor.notify.capture import CaptureTransport, preview
from auditor.notify.cycle import active_destinations, deliver_pending, notify_cycle
from auditor.notify.deliver import DeliveryResult, RetryPolicy, deliver
from auditor.notify.outbox import MemoryOutbox, Outbox
from auditor.notify.planner import GAPS, coverage_alert_key, plan_messages
from auditor.notify.redact import redact_payload
from auditor.notify.transport import SendResult, SlackTransport, Transport

__all__ = [
    "GAPS",
    "CaptureTransport",
    "DeliveryResult",
    "MemoryOutbox",
    "Outbox",
    "RetryPolicy",
    "SendResult",
    "SlackTransport",
    "Transport",
    "active_destinations",
    "coverage_alert_key",
    "deliver",
    "deliver_pending",
    "notify_cycle",
    "plan_messages",
    "preview",
    "redact_payload",
]

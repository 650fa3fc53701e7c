"""Slack: Block Kit rendering and the two ways of posting (incoming webhook, Web API)."""

from auditor.notify.slack.message import payloads
from auditor.notify.slack.transport import (
    CHANNEL,
    FILE_WEBHOOK,
    WEBHOOK,
    SlackTransport,
    WebApiTransport,
    WebhookTransport,
    bot_token,
    webhook_url,
)
from auditor.notify.transport import Channel

INCOMING_WEBHOOK = Channel(render=payloads, transport=lambda s: WebhookTransport(s.slack))
WEB_API = Channel(render=payloads, transport=lambda s: WebApiTransport(s.slack))

__all__ = [
    "CHANNEL",
    "FILE_WEBHOOK",
    "INCOMING_WEBHOOK",
    "WEBHOOK",
    "WEB_API",
    "SlackTransport",
    "WebApiTransport",
    "WebhookTransport",
    "bot_token",
    "payloads",
    "webhook_url",
]

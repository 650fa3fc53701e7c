"""Sending one Slack message: incoming webhooks (httpx) and the Web API (slack_sdk).

The webhook URL and the bot token are secrets. They are read when a message is sent, from
the environment variable or file the config names, and never appear in a log line, an
error string or an exception: every error text passes through `scrub`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from auditor.model import JSON
from auditor.notify.alert import Destination
from auditor.notify.transport import (
    JsonPost,
    SendResult,
    Transport,
    describe,
    retry_after_seconds,
    scrub,
)
from auditor.settings import SlackConfig, secret_from

if TYPE_CHECKING:
    import httpx

WEBHOOK = "webhook"  # an incoming webhook whose URL is in the environment variable named
CHANNEL = "channel"  # a channel (#name or id), through the Web API with the bot token
# the default webhook when only `webhook_url_file` is configured
FILE_WEBHOOK = Destination(WEBHOOK, "@file")
_RETRYABLE_API_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def webhook_url(destination: str, slack: SlackConfig) -> str | None:
    """The URL of a `webhook:<ENV VAR>` destination; the configured default webhook also
    falls back to `webhook_url_file`."""
    parsed = Destination.parse(destination)
    if parsed == FILE_WEBHOOK:
        return secret_from(None, slack.webhook_url_file)
    if parsed.target == slack.webhook_url_env:
        return secret_from(parsed.target, slack.webhook_url_file)
    return secret_from(parsed.target, None)


def bot_token(slack: SlackConfig) -> str | None:
    """The Slack bot token from its environment variable or file, if configured."""
    return secret_from(slack.token_env, slack.token_file)


class WebhookTransport(JsonPost):
    """POST the payload as JSON to an incoming webhook (Slack answers 200 "ok")."""

    def __init__(self, slack: SlackConfig, client: httpx.Client | None = None) -> None:
        super().__init__(client)
        self._slack = slack

    def send(self, destination: str, payload: Mapping[str, JSON], timeout: float) -> SendResult:
        url = webhook_url(destination, self._slack)
        return self.post(url, destination, payload, timeout, ok=lambda status: status == 200)


class WebApiTransport:
    """`chat.postMessage` with the bot token, through slack_sdk's WebClient."""

    def __init__(self, slack: SlackConfig) -> None:
        self._slack = slack

    def send(self, destination: str, payload: Mapping[str, JSON], timeout: float) -> SendResult:
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError

        token = bot_token(self._slack)
        if token is None:
            return SendResult(False, error="no bot token configured (slack.token_env/token_file)")
        quiet = logging.getLogger("auditor.notify.slack_sdk")
        quiet.setLevel(logging.WARNING)
        client = WebClient(
            token=token,
            base_url=self._slack.api_url or "https://slack.com/api/",
            timeout=max(1, round(timeout)),
            logger=quiet,
            retry_handlers=[],  # deliver() owns retries and the time budget
        )
        channel = Destination.parse(destination).target
        try:
            client.chat_postMessage(
                channel=channel, text=str(payload.get("text", "")), blocks=payload.get("blocks")
            )
        except SlackApiError as exc:
            status = int(exc.response.status_code)
            code = str(exc.response.get("error") or f"HTTP {status}")
            return SendResult(
                False,
                status=status,
                error=scrub(f"Slack API error: {code}", (token,)),
                retryable=status == 429 or status >= 500 or code in _RETRYABLE_API_ERRORS,
                retry_after=retry_after_seconds(dict(exc.response.headers or {})),
            )
        except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections
            return SendResult(False, error=scrub(describe(exc), (token,)), retryable=True)
        return SendResult(True, status=200)


class SlackTransport:
    """Both Slack transports, each destination sent by the one its kind names."""

    def __init__(self, slack: SlackConfig, client: httpx.Client | None = None) -> None:
        self.webhook = WebhookTransport(slack, client)
        self.web_api = WebApiTransport(slack)

    def send(self, destination: str, payload: Mapping[str, JSON], timeout: float) -> SendResult:
        by_kind: dict[str, Transport] = {WEBHOOK: self.webhook, CHANNEL: self.web_api}
        transport = by_kind.get(Destination.parse(destination).kind)
        if transport is None:
            return SendResult(False, error=f"unknown destination kind: {destination}")
        return transport.send(destination, payload, timeout)

    def close(self) -> None:
        self.webhook.close()

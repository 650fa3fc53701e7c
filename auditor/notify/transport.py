"""Sending one Slack message: incoming webhooks (httpx) and the Web API (slack_sdk).

The webhook URL and the bot token are secrets. They are read when a message is sent, from
the environment variable or file the config names, and never appear in a log line, an
error string or an exception: every error text passes through `scrub`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from auditor.model import JSON
from auditor.notify.routing import CHANNEL, FILE_WEBHOOK, WEBHOOK
from auditor.settings import SlackConfig, secret_from

SCRUBBED = "«secret»"
_SLACK_SECRETS = re.compile(
    r"(https?://hooks\.slack(-gov)?\.com/\S+|xox[a-z]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+)"
)
_RETRYABLE_API_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one HTTP attempt. `error` is always scrubbed of secrets."""

    ok: bool
    status: int | None = None
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None  # seconds, from HTTP 429 Retry-After


class Transport(Protocol):
    def send(self, destination: str, payload: Mapping[str, JSON], timeout: float) -> SendResult:
        """One attempt to deliver `payload` to `destination`; never raises for Slack errors."""
        ...


def scrub(text: str, secrets: tuple[str | None, ...] = ()) -> str:
    """`text` without the given secret values or anything shaped like a Slack secret."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, SCRUBBED)
    return _SLACK_SECRETS.sub(SCRUBBED, text)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def webhook_url(destination: str, slack: SlackConfig) -> str | None:
    """The URL of a `webhook:<ENV VAR>` destination; the configured default webhook also
    falls back to `webhook_url_file`."""
    if destination == FILE_WEBHOOK:
        return secret_from(None, slack.webhook_url_file)
    name = destination.removeprefix(WEBHOOK)
    if name == slack.webhook_url_env:
        return secret_from(name, slack.webhook_url_file)
    return secret_from(name, None)


def bot_token(slack: SlackConfig) -> str | None:
    return secret_from(slack.token_env, slack.token_file)


if TYPE_CHECKING:
    import httpx


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class WebhookTransport:
    """POST the payload as JSON to an incoming webhook."""

    def __init__(self, slack: SlackConfig, client: httpx.Client | None = None) -> None:
        self._slack = slack
        self._client = client

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx  # only a cycle with a webhook to call pays for it

            self._client = httpx.Client(follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def send(self, destination: str, payload: Mapping[str, JSON], timeout: float) -> SendResult:
        import httpx

        url = webhook_url(destination, self._slack)
        if url is None:
            return SendResult(False, error=f"no webhook URL configured for {destination}")
        try:
            response = self._http().post(url, json=dict(payload), timeout=timeout)
        except httpx.HTTPError as exc:
            return SendResult(False, error=scrub(_describe(exc), (url,)), retryable=True)
        status = response.status_code
        if status == 200:
            return SendResult(True, status=status)
        body = scrub(response.text[:200].strip(), (url,))
        return SendResult(
            False,
            status=status,
            error=f"HTTP {status}: {body}",
            retryable=status == 429 or status >= 500,
            retry_after=retry_after_seconds(response.headers) if status == 429 else None,
        )


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
        channel = destination.removeprefix(CHANNEL)
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
            return SendResult(False, error=scrub(_describe(exc), (token,)), retryable=True)
        return SendResult(True, status=200)


class SlackTransport:
    """Sends each destination the way its prefix says: webhook or channel."""

    def __init__(self, slack: SlackConfig, client: httpx.Client | None = None) -> None:
        self.webhook = WebhookTransport(slack, client)
        self.web_api = WebApiTransport(slack)

    def send(self, destination: str, payload: Mapping[str, JSON], timeout: float) -> SendResult:
        if destination.startswith(WEBHOOK):
            return self.webhook.send(destination, payload, timeout)
        if destination.startswith(CHANNEL):
            return self.web_api.send(destination, payload, timeout)
        return SendResult(False, error=f"unknown destination kind: {destination}")

    def close(self) -> None:
        self.webhook.close()

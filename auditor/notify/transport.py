"""What every channel's transport shares: one attempt's result, the interface, and keeping
secrets out of error texts.

A transport sends one payload to one destination and never raises for the remote side's
errors; `deliver` owns retries, backoff and the time budget, the same for every channel.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from auditor.model import JSON

if TYPE_CHECKING:
    import httpx

    from auditor.notify.alert import Alert, Subscription
    from auditor.settings import Settings

SCRUBBED = "«secret»"
_KNOWN_SECRETS = re.compile(
    r"(https?://hooks\.slack(-gov)?\.com/\S+|xox[a-z]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+)"
)


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one attempt. `error` is always scrubbed of secrets."""

    ok: bool
    status: int | None = None
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None  # seconds, from HTTP 429 Retry-After


class Transport(Protocol):
    def send(self, destination: str, payload: Mapping[str, JSON], timeout: float) -> SendResult:
        """One attempt to deliver `payload` to `destination`; never raises for remote errors."""
        ...


@dataclass(frozen=True, slots=True)
class Channel:
    """A notification channel: how an alert looks there and how it is sent there.
    `subscriptions`: the destinations its own config section subscribes to every alert
    (Slack's destinations come from its routes instead, `notify.routing`)."""

    render: Callable[[Alert], list[dict[str, JSON]]]
    transport: Callable[[Settings], Transport]
    subscriptions: Callable[[Settings], tuple[Subscription, ...]] = lambda _: ()


def scrub(text: str, secrets: tuple[str | None, ...] = ()) -> str:
    """`text` without the given secret values or anything shaped like a known secret."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, SCRUBBED)
    return _KNOWN_SECRETS.sub(SCRUBBED, text)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a 429 answer's Retry-After header asks to wait, if it says."""
    if not headers:
        return None
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def describe(exc: BaseException) -> str:
    """An exception as text for an error message (scrub it before use)."""
    return f"{type(exc).__name__}: {exc}"


def http_result(
    status: int, body: str, headers: Mapping[str, str], secret: str, *, ok: bool
) -> SendResult:
    """A webhook's answer: `ok`, or an error of which 429 and 5xx are retried (honouring
    Retry-After)."""
    if ok:
        return SendResult(True, status=status)
    return SendResult(
        False,
        status=status,
        error=f"HTTP {status}: {scrub(body[:200].strip(), (secret,))}",
        retryable=status == 429 or status >= 500,
        retry_after=retry_after_seconds(headers) if status == 429 else None,
    )


class JsonPost:
    """POSTs payloads as JSON to webhook URLs through one httpx client, created on first use
    (only a cycle with a webhook to call pays for the import). Redirects are not followed."""

    def __init__(self, client: httpx.Client | None = None) -> None:
        self._client = client

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            self._client = httpx.Client(follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def post(
        self,
        url: str | None,
        destination: str,
        payload: Mapping[str, JSON],
        timeout: float,
        ok: Callable[[int], bool],
    ) -> SendResult:
        """One attempt; `url` is a secret, scrubbed from every error text."""
        import httpx

        if url is None:
            return SendResult(False, error=f"no webhook URL configured for {destination}")
        try:
            response = self._http().post(url, json=dict(payload), timeout=timeout)
        except httpx.HTTPError as exc:
            return SendResult(False, error=scrub(describe(exc), (url,)), retryable=True)
        status = response.status_code
        return http_result(status, response.text, response.headers, url, ok=ok(status))

"""The notification channels: one line per channel, keyed by the kind of its destinations.

Adding a channel is a module that renders an `Alert` and sends a payload (see
`notify/webhook.py`), and its line here. Planning, the outbox, retries and the time budget
are shared; nothing else dispatches on a destination's kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from auditor.model import JSON, OutboxMessage
from auditor.notify import slack, webhook
from auditor.notify.alert import Alert, Destination, Subscription
from auditor.notify.redact import redact_payload
from auditor.notify.transport import Channel, SendResult, Transport
from auditor.settings import Settings

CHANNELS: Mapping[str, Channel] = {
    slack.WEBHOOK: slack.INCOMING_WEBHOOK,
    slack.CHANNEL: slack.WEB_API,
    webhook.KIND: webhook.CHANNEL,
}


def subscriptions(settings: Settings) -> tuple[Subscription, ...]:
    """Every channel's own catch-all destinations, as configured."""
    return tuple(s for channel in CHANNELS.values() for s in channel.subscriptions(settings))


def messages(alerts: Iterable[Alert]) -> tuple[OutboxMessage, ...]:
    """Each alert rendered for its destination's channel, redacted, keyed for the outbox (an
    alert a channel splits in n payloads gets keys "<key>:1ofn" ...)."""
    out: list[OutboxMessage] = []
    for alert in alerts:
        payloads = CHANNELS[alert.destination.kind].render(alert)
        for i, payload in enumerate(payloads, 1):
            key = alert.key if len(payloads) == 1 else f"{alert.key}:{i}of{len(payloads)}"
            destination = str(alert.destination)
            out.append(OutboxMessage(key, destination, redact_payload(payload), alert.at))
    return tuple(out)


class Transports:
    """Sends each message with its destination's channel transport, built on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._open: dict[str, Transport] = {}

    def send(self, destination: str, payload: Mapping[str, JSON], timeout: float) -> SendResult:
        kind = Destination.parse(destination).kind
        channel = CHANNELS.get(kind)
        if channel is None:
            return SendResult(False, error=f"unknown destination kind: {destination}")
        if kind not in self._open:
            self._open[kind] = channel.transport(self._settings)
        return self._open[kind].send(destination, payload, timeout)

    def close(self) -> None:
        for transport in self._open.values():
            close = getattr(transport, "close", None)
            if callable(close):
                close()

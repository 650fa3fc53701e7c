"""A generic JSON webhook: each alert POSTed as one JSON document (`auditor.alert/v1`).

For chat bridges, incident tools and SIEMs that take any JSON. The URL is a secret, read at
send time from the variable (`webhook.url_env`) or file (`webhook.url_file`) the config
names, and scrubbed from every error text. Retries, backoff, 429 Retry-After, the request
timeout (`slack.timeout_seconds`) and the time budget are `deliver`'s, as for Slack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from auditor.model import JSON, ActionRecord, CollectionGap, TrackedFinding, iso
from auditor.notify.alert import Alert, Destination, Subscription
from auditor.notify.transport import Channel, JsonPost, SendResult
from auditor.settings import Settings, WebhookConfig, secret_from

if TYPE_CHECKING:
    import httpx

KIND = "json-webhook"
SCHEMA = "auditor.alert/v1"
FROM_FILE = "@file"  # the target when the URL is in `webhook.url_file`


def _finding(tf: TrackedFinding, alert: Alert) -> dict[str, JSON]:
    f, r = tf.finding, tf.finding.resource
    info = alert.rules.get(f.rule_id)
    action = alert.remediation.get(tf.id)
    return {
        "id": tf.id,
        "rule_id": f.rule_id,
        "title": info.title if info is not None else f.rule_id,
        "severity": f.severity.value,
        "status": f.status.value,
        "message": f.message,
        "resource": {
            "arn": r.arn,
            "id": r.id,
            "kind": str(r.kind),
            "account": r.account,
            "region": r.region,
            "tags": dict(r.tags),
        },
        "evidence": dict(f.evidence),
        "first_seen": iso(tf.first_seen),
        "resolved_at": iso(tf.resolved_at) if tf.resolved_at else None,
        "remediation": _action(action) if action is not None else None,
    }


def _gap(gap: CollectionGap) -> dict[str, JSON]:
    return {
        "account": gap.account,
        "region": gap.region,
        "service": gap.service.value,
        "kinds": [k.value for k in gap.kinds],
        "resource_arn": gap.resource_arn,
        "operation": gap.operation,
        "error_code": gap.error_code,
    }


def _action(a: ActionRecord) -> dict[str, JSON]:
    return {
        "id": a.id,
        "action": a.action,
        "target_arn": a.target_arn,
        "status": a.status.value,
        "mode": a.mode,
        "reason": a.reason,
    }


def render(alert: Alert) -> list[dict[str, JSON]]:
    """One JSON document per alert, whatever its size (no chat-message limits here)."""
    return [
        {
            "schema": SCHEMA,
            "kind": alert.kind,
            "title": alert.title,
            "summary": alert.summary,
            "at": iso(alert.at),
            "report_url": alert.report_url,
            "findings": [_finding(tf, alert) for tf in alert.findings],
            "gaps": [_gap(g) for g in alert.gaps],
            "actions": [_action(a) for a in alert.actions],
        }
    ]


def url_of(destination: str, config: WebhookConfig) -> str | None:
    """The webhook URL a destination names, read from its variable or file."""
    target = Destination.parse(destination).target
    if target == FROM_FILE:
        return secret_from(None, config.url_file)
    return secret_from(target, config.url_file if target == config.url_env else None)


class JsonWebhookTransport(JsonPost):
    """POST the document as JSON; any 2xx is delivered."""

    def __init__(self, config: WebhookConfig, client: httpx.Client | None = None) -> None:
        super().__init__(client)
        self._config = config

    def send(self, destination: str, payload: Mapping[str, JSON], timeout: float) -> SendResult:
        url = url_of(destination, self._config)
        return self.post(url, destination, payload, timeout, ok=lambda status: status // 100 == 2)


def subscriptions(settings: Settings) -> tuple[Subscription, ...]:
    """The configured webhook, if any: it gets every alert at or above its min_severity."""
    config = settings.webhook
    target = config.url_env or (FROM_FILE if config.url_file is not None else None)
    if target is None:
        return ()
    return (Subscription(Destination(KIND, target), config.min_severity),)


CHANNEL = Channel(
    render=render,
    transport=lambda s: JsonWebhookTransport(s.webhook),
    subscriptions=subscriptions,
)

"""The generic JSON webhook channel against a real HTTP server on 127.0.0.1: one JSON
document per alert, secrets redacted, the URL never in an error, and the same retries,
Retry-After, per-request timeout and time budget as Slack."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from auditor.commands import notify
from auditor.model import CollectionGap, FindingDelta, FixedClock
from auditor.notify import (
    MemoryOutbox,
    Transports,
    deliver_pending,
    plan_messages,
    subscriptions,
)
from auditor.settings import Settings
from tests.conftest import NOW
from tests.notify.conftest import FakeTime
from tests.notify.factories import RULES, gap, tracked
from tests.notify.fakeslack import WEBHOOK_PATH, FakeSlack
from tests.notify.test_redaction import SEEDED, seeded_finding_delta

VAR = "AUDITOR_ALERT_WEBHOOK"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """Any HTTP endpoint that takes JSON (the fake Slack's webhook path will do); its URL in
    AUDITOR_ALERT_WEBHOOK, and no Slack configured."""
    server = FakeSlack()
    server.start()
    monkeypatch.setenv(VAR, server.webhook_url)
    monkeypatch.delenv("AUDITOR_SLACK_WEBHOOK", raising=False)
    yield server
    server.stop()


def settings(**webhook: object) -> Settings:
    return Settings(slack={"webhook_url_env": None}, webhook={"url_env": VAR, **webhook})


def send(
    config: Settings, delta: FindingDelta, fake_time: FakeTime, gaps: tuple[CollectionGap, ...] = ()
) -> MemoryOutbox:
    """Plan the cycle's alerts into an outbox and deliver it, as the pipeline does."""
    outbox = MemoryOutbox()
    outbox.enqueue(
        plan_messages(
            delta,
            gaps,
            (),
            RULES,
            config.slack,
            "https://audit.example.com/r/1",
            NOW,
            also=subscriptions(config),
        )
    )
    transport = Transports(config)
    try:
        deliver_pending(
            outbox,
            transport,
            config.slack,
            FixedClock(NOW),
            deadline_seconds=30,
            sleep=fake_time.sleep,
            monotonic=fake_time.monotonic,
        )
    finally:
        transport.close()
    return outbox


def test_each_alert_arrives_as_one_json_document(receiver: FakeSlack, fake_time: FakeTime) -> None:
    """New violations at or above webhook.min_severity and a coverage gap: two documents,
    each self-describing (schema, kind, title, findings or gaps, the report link)."""
    high = tracked("ec2.ssh_keypair_attached", 1)
    medium = tracked("ec2.max_age", 2)
    outbox = send(settings(), FindingDelta((high, medium), (), ()), fake_time, (gap(),))
    assert [] == outbox.pending()
    new, coverage = receiver.payloads(WEBHOOK_PATH)
    assert ("auditor.alert/v1", "new", "1 new violation (1 high)") == (
        new["schema"],
        new["kind"],
        new["title"],
    )
    (finding,) = new["findings"]
    assert ("ec2.ssh_keypair_attached", "high", "fail") == (
        finding["rule_id"],
        finding["severity"],
        finding["status"],
    )
    assert high.finding.resource.arn == finding["resource"]["arn"]
    assert "https://audit.example.com/r/1" == new["report_url"]
    assert ("gaps", 1) == (coverage["kind"], len(coverage["gaps"]))


def test_min_severity_is_the_webhooks_own(receiver: FakeSlack, fake_time: FakeTime) -> None:
    """webhook.min_severity: medium lets the medium finding through too."""
    delta = FindingDelta((tracked("ec2.max_age", 2),), (), ())
    send(settings(min_severity="medium"), delta, fake_time)
    assert [["ec2.max_age"]] == [
        [f["rule_id"] for f in p["findings"]] for p in receiver.payloads(WEBHOOK_PATH)
    ]


def test_secrets_never_reach_the_webhook(receiver: FakeSlack, fake_time: FakeTime) -> None:
    """Secrets planted in evidence, message and tags are «redacted» in the document."""
    send(settings(), seeded_finding_delta(), fake_time)
    body = json.dumps(receiver.payloads(WEBHOOK_PATH), ensure_ascii=False)
    assert [] == [s for s in SEEDED if s in body]
    assert "«redacted»" in body


def test_429_and_5xx_are_retried_like_slack(receiver: FakeSlack, fake_time: FakeTime) -> None:
    """A 429 with Retry-After: 7 waits 7 s, a 503 backs off, the third attempt delivers."""
    receiver.fail_next(429, "slow down", {"Retry-After": "7"})
    receiver.fail_next(503, "unavailable")
    outbox = send(
        settings(), FindingDelta((tracked("ec2.ssh_keypair_attached", 1),), (), ()), fake_time
    )
    assert [] == outbox.pending()
    assert [7.0, 2.0] == fake_time.sleeps
    assert 1 == len(receiver.payloads(WEBHOOK_PATH))


def test_a_hanging_endpoint_is_given_up_after_the_request_timeout(
    receiver: FakeSlack, fake_time: FakeTime
) -> None:
    """slack.timeout_seconds bounds every channel's requests: a hung request is abandoned
    after it, and the retry delivers."""
    receiver.hang_next()
    config = settings().model_copy(
        update={"slack": settings().slack.model_copy(update={"timeout_seconds": 1})}
    )
    outbox = send(
        config, FindingDelta((tracked("ec2.ssh_keypair_attached", 1),), (), ()), fake_time
    )
    assert [] == outbox.pending()
    assert receiver.abandoned_after[0] < 5.0
    assert 1 == len(receiver.payloads(WEBHOOK_PATH))


def test_the_url_never_appears_in_an_error(receiver: FakeSlack, fake_time: FakeTime) -> None:
    """The endpoint is down: the message stays pending with an error that does not contain
    the URL (a secret: it often carries a token)."""
    receiver.stop()
    outbox = send(
        settings(), FindingDelta((tracked("ec2.ssh_keypair_attached", 1),), (), ()), fake_time
    )
    (pending,) = outbox.pending()
    assert pending.last_error
    assert receiver.webhook_url not in pending.last_error
    assert WEBHOOK_PATH not in pending.last_error


def test_notify_test_reaches_the_webhook(
    receiver: FakeSlack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`auditor notify test` with only `webhook:` configured posts a test document."""
    config = tmp_path / "auditor.yaml"
    config.write_text(f"slack: {{webhook_url_env: null}}\nwebhook: {{url_env: {VAR}}}\n")
    parser = argparse.ArgumentParser(prog="auditor")
    notify.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["notify", "test", "--config", str(config)])
    with structlog.testing.capture_logs():
        assert 0 == int(args.handler(args))
    assert [f"json-webhook:{VAR}: ok"] == capsys.readouterr().out.splitlines()
    (document,) = receiver.payloads(WEBHOOK_PATH)
    assert ("test", "auditor test message") == (document["kind"], document["title"])


def test_a_route_may_name_a_webhook(
    receiver: FakeSlack, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`json-webhook:VAR` as a route's destination: only the routed findings go there, as
    JSON documents, next to Slack's default webhook (which gets Block Kit)."""
    monkeypatch.setenv("ECS_TEAM_HOOK", receiver.webhook_url)
    config = Settings(
        slack={
            "webhook_url_env": None,
            "routes": [{"destination": "json-webhook:ECS_TEAM_HOOK", "rules": ["ecs.*"]}],
        }
    )
    delta = FindingDelta(
        (tracked("ecs.mutable_image_tag", 1), tracked("ec2.ssh_keypair_attached", 2)), (), ()
    )
    outbox = send(config, delta, fake_time)
    assert [] == outbox.pending()
    assert [["ecs.mutable_image_tag"]] == [
        [f["rule_id"] for f in p["findings"]] for p in receiver.payloads(WEBHOOK_PATH)
    ]

"""No secret value can reach a Slack message, whatever field it hides in."""

from __future__ import annotations

import json

from auditor.model import FindingDelta
from auditor.notify import plan_messages
from auditor.notify.redact import REDACTED, redact_payload
from auditor.settings import SlackConfig
from tests.conftest import NOW
from tests.notify.factories import RULES, gap, tracked

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
SLACK_TOKEN = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
GITHUB_TOKEN = "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"
DB_PASSWORD = "Tr0ub4dor-and-3"
WEBHOOK = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/cccccccccccccccccccccccc"
SEEDED = (AWS_KEY, SLACK_TOKEN, GITHUB_TOKEN, DB_PASSWORD, WEBHOOK)


def seeded_finding_delta() -> FindingDelta:
    """Secrets planted in evidence, message, tags and a gap message: places a buggy
    collector or check could leak them."""
    leaky = tracked(
        "ec2.secrets_in_user_data",
        1,
        tags={"owner": f"token {SLACK_TOKEN}", "Name": "web"},
        evidence={"user_data_excerpt": f"export AWS_ACCESS_KEY_ID={AWS_KEY}", "hook": WEBHOOK},
        message=f"saw DB_PASSWORD={DB_PASSWORD} and {GITHUB_TOKEN}",
    )
    return FindingDelta(new=(leaky,), still_open=(), resolved=())


def test_seeded_secrets_never_reach_a_planned_payload() -> None:
    """Every seeded secret is replaced by «redacted»; the rest of the message survives."""
    messages = plan_messages(seeded_finding_delta(), (gap(),), (), RULES, SlackConfig(), None, NOW)
    body = json.dumps([m.payload for m in messages], ensure_ascii=False)
    assert [s for s in SEEDED if s in body] == []
    assert REDACTED in body
    assert "arn:aws:ec2:us-east-1:111111111111:instance/i-00000000000000001" in body


def test_redaction_leaves_ordinary_text_alone() -> None:
    """ARNs, image digests, ids and links are not mistaken for secrets."""
    payload = {
        "text": "x",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "`arn:aws:ecs:eu-west-1:222222222222:service/prod/web`\n"
                    "image 222222222222.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:"
                    "0a1b2c3d4e5f67890a1b2c3d4e5f67890a1b2c3d4e5f67890a1b2c3d4e5f6789\n"
                    "ami-0123456789abcdef0 · <https://audit.example.com/r/1|Open the report>",
                },
            }
        ],
    }
    assert payload == redact_payload(payload)

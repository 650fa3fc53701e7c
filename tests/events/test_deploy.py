"""The Terraform of the feed routes exactly the calls the parser understands."""

from __future__ import annotations

import re
from pathlib import Path

from auditor.events.parse import CALLS

ROOT = Path(__file__).parents[2]
TERRAFORM = ROOT / "deploy" / "terraform" / "modules" / "event-feed" / "main.tf"
READER = ROOT / "deploy" / "iam" / "event-reader.json.tftpl"


def test_eventbridge_rule_names_every_call_the_parser_handles() -> None:
    """A call added to parse.CALLS but not to the rule would never arrive (and vice versa)."""
    text = TERRAFORM.read_text()
    block = re.search(r"event_names = \[(.*?)\]", text, re.S)
    assert block is not None
    assert sorted(CALLS) == re.findall(r'"(\w+)"', block.group(1))


def test_consumer_permissions_cover_what_the_feed_calls() -> None:
    """ReceiveMessage/DeleteMessage on the queue, SendMessage to the DLQ, LookupEvents (the
    exact set is tests/deploy/test_iam.py's job; this names the feed's own needs)."""
    text = READER.read_text()
    for action in (
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:SendMessage",
        "cloudtrail:LookupEvents",
    ):
        assert f'"{action}"' in text

"""The demo's Slack: what would be sent, written to a file and shown in the terminal."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.model import FindingDelta, FixedClock
from auditor.notify import CaptureTransport, MemoryOutbox, deliver, plan_messages
from auditor.settings import SlackConfig
from tests.conftest import NOW
from tests.notify.factories import RULES, gap, tracked


def test_capture_writes_jsonl_and_a_readable_preview(tmp_path: Path) -> None:
    """Each message lands as one JSON line; the preview reads like the Slack message."""
    outbox = MemoryOutbox()
    finding = tracked("ec2.ssh_keypair_attached", 1, tags={"owner": "alice"})
    outbox.enqueue(
        plan_messages(
            FindingDelta((finding,), (), ()),
            (gap(),),
            (),
            RULES,
            SlackConfig(),
            "https://audit.example.com/r/1",
            NOW,
        )
    )
    capture = CaptureTransport(tmp_path / "slack.jsonl")
    result = deliver(outbox, capture, FixedClock(NOW), deadline_seconds=5)
    records = [json.loads(line) for line in (tmp_path / "slack.jsonl").read_text().splitlines()]
    assert 2 == len(result.sent) == len(records)
    assert [r["destination"] for r in records] == ["webhook:AUDITOR_SLACK_WEBHOOK"] * 2
    assert capture.previews[0].splitlines() == [
        "→ webhook:AUDITOR_SLACK_WEBHOOK",
        ":rotating_light: 1 new violation (1 high)",
        "=========================================",
        "  :large_orange_circle: HIGH · Instance launched with an SSH key pair "
        "(ec2.ssh_keypair_attached)",
        "  arn:aws:ec2:us-east-1:111111111111:instance/i-00000000000000001",
        "  account 111111111111 · us-east-1 · owner alice",
        "  > evidence: key_name=deploy",
        "",
        "auditor · 2026-11-22T12:00:00+00:00 · Open the report (https://audit.example.com/r/1)",
    ]

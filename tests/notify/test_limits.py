"""Huge deltas are summarized and every message stays within Slack's limits."""

from __future__ import annotations

from auditor.model import FindingDelta, Severity
from auditor.notify import plan_messages
from auditor.settings import SlackConfig
from tests.conftest import NOW
from tests.notify.factories import RULES, gap, tracked
from tests.notify.helpers import all_text, sections, size


def test_five_thousand_findings_stay_within_limits() -> None:
    """5,000 new findings: top N shown, the rest counted, <= 50 blocks, <= 3,000 characters
    per text, payload well under 40 KB."""
    findings = tuple(
        tracked(
            "ec2.secrets_in_user_data" if n % 100 == 0 else "ec2.ssh_keypair_attached",
            n,
            evidence={"key_name": "k" * 500, "notes": "x " * 400},
            tags={"owner": "o" * 300},
            message="why " * 200,
        )
        for n in range(5000)
    )
    messages = plan_messages(
        FindingDelta(new=findings, still_open=(), resolved=()),
        tuple(gap(region=f"r-{i}") for i in range(300)),
        (),
        RULES,
        SlackConfig(max_findings_per_message=40),
        "https://audit.example.com/r/1",
        NOW,
    )
    for message in messages:
        blocks = message.payload["blocks"]
        assert len(blocks) <= 50
        for block in blocks:
            texts = (
                [block["text"]["text"]]
                if "text" in block
                else [e["text"] for e in block.get("elements", [])]
            )
            assert all(len(t) <= 3000 for t in texts)
        assert size(message.payload) < 40_000
    new = [m for m in messages if m.key.startswith("new:")]
    gaps = [m for m in messages if m.key.startswith("gaps:")]
    assert len(new) > 1  # 40 long findings do not fit one payload: split, not truncated
    assert all("5000 new violations (50 critical, 4950 high)" in m.payload["text"] for m in new)
    assert "…and 4960 more: 10 critical, 4950 high" in all_text(new[-1].payload)
    assert sum(len(sections(m.payload)) for m in new) == 40
    assert "…and 260 more gaps" in all_text(gaps[-1].payload)


def test_top_findings_are_the_most_severe() -> None:
    """The findings shown first are the critical ones, whatever the input order."""
    findings = (
        *(tracked("ec2.ssh_keypair_attached", n) for n in range(30)),
        tracked("ec2.secrets_in_user_data", 99),
    )
    (message,) = plan_messages(
        FindingDelta(new=findings, still_open=(), resolved=()),
        (),
        (),
        RULES,
        SlackConfig(max_findings_per_message=5),
        None,
        NOW,
    )
    first = next(b for b in message.payload["blocks"] if b["type"] == "section")
    assert first["text"]["text"].startswith(f":red_circle: *{Severity.CRITICAL.value.upper()}*")
    assert "…and 26 more: 26 high" in all_text(message.payload)

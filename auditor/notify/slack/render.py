"""Block Kit pieces: one finding, one gap, one action, and the packing of blocks into messages
that stay within Slack's limits (50 blocks, 3,000 characters per text, small payloads)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from auditor.model import (
    JSON,
    ActionRecord,
    CollectionGap,
    Finding,
    RuleInfo,
    Severity,
    TrackedFinding,
    iso,
)
from auditor.notify.alert import age_text

MAX_BLOCKS = 50
MAX_TEXT = 3000
HEADER_MAX = 150
MAX_PAYLOAD_BYTES = 30_000  # Slack refuses ~40 KB; keep a wide margin
EVIDENCE_MAX = 300
FIELD_MAX = 400

EMOJI: Mapping[Severity, str] = {
    Severity.CRITICAL: ":red_circle:",
    Severity.HIGH: ":large_orange_circle:",
    Severity.MEDIUM: ":large_yellow_circle:",
    Severity.LOW: ":large_blue_circle:",
    Severity.INFO: ":white_circle:",
}
OWNER_TAGS = ("owner", "team")


def escape(text: str) -> str:
    """Slack mrkdwn control characters; everything user-controlled goes through this."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code(text: str, limit: int = FIELD_MAX) -> str:
    """`text` as escaped inline code, clipped to `limit`."""
    return "`" + escape(clip(text, limit).replace("`", "'")) + "`"


def owner_of(tags: Mapping[str, str]) -> tuple[str, str] | None:
    """("owner", value) or ("team", value) from the resource's tags, owner first."""
    lowered = {k.lower(): v for k, v in tags.items()}
    for name in OWNER_TAGS:
        if lowered.get(name):
            return name, lowered[name]
    return None


def _evidence_value(key: str, value: JSON) -> str:
    if isinstance(value, dict) and "secrets" in value:
        secrets = value.get("secrets") or []
        if not value.get("present", True):
            return f"{key}: absent"
        if isinstance(secrets, list) and secrets:
            kinds = sorted({str(s.get("detector", "?")) for s in secrets if isinstance(s, dict)})
            return f"{key}: {len(secrets)} secret(s) ({', '.join(kinds)})"
        return f"{key}: no secrets"
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{key}={value}"
    return f"{key}={json.dumps(value, sort_keys=True, separators=(',', ':'), default=str)}"


def evidence_line(finding: Finding) -> str:
    """The evidence in one line. Evidence is already redacted at collection; the payload
    guard re-checks the rendered text anyway. Attribution has its own line."""
    keys = sorted(k for k in finding.evidence if k not in _OWN_LINE)
    parts = [_evidence_value(k, finding.evidence[k]) for k in keys]
    return clip(" ".join("; ".join(parts).split()), EVIDENCE_MAX)


_OWN_LINE = frozenset({"changed_by", "sessions", "principals"})


def changed_by_line(finding: Finding) -> str | None:
    """ "changed by alice@example.com via ModifyInstanceAttribute (2026-12-04T10:00:00+00:00,
    203.0.113.7)": who caused the finding, from the event feed or CloudTrail."""
    who = finding.evidence.get("changed_by")
    if not isinstance(who, dict):
        return None
    actor = str(who.get("actor") or "unknown")
    if actor == "unknown" or not who.get("event_name"):
        return "changed by an unknown actor (no CloudTrail event received)"
    where = ", ".join(str(who[k]) for k in ("event_time", "source_ip") if who.get(k))
    return f"changed by *{escape(clip(actor, 200))}* via {code(str(who['event_name']), 100)}" + (
        f" ({escape(where)})" if where else ""
    )


def rule_title(rule_id: str, rules: Mapping[str, RuleInfo]) -> str:
    """The rule's title, or its id when the rule is unknown."""
    info = rules.get(rule_id)
    return info.title if info is not None else rule_id


def finding_block(
    tf: TrackedFinding, rules: Mapping[str, RuleInfo], *, note: str | None = None
) -> dict[str, JSON]:
    """The Block Kit section for one open finding."""
    f = tf.finding
    r = f.resource
    where = f"account {code(r.account)} · {code(r.region)}"
    owner = owner_of(r.tags)
    if owner:
        where += f" · {owner[0]} {code(owner[1], 100)}"
    lines = [
        f"{EMOJI[f.severity]} *{f.severity.value.upper()}* · "
        f"*{escape(clip(rule_title(f.rule_id, rules), 200))}* ({code(f.rule_id, 120)})",
        code(r.arn, 1000),
        where,
    ]
    if f.message:
        lines.append(escape(clip(" ".join(f.message.split()), EVIDENCE_MAX)))
    evidence = evidence_line(f)
    if evidence:
        lines.append(f"> evidence: {escape(evidence)}")
    actor = changed_by_line(f)
    if actor:
        lines.append(actor)
    if note:
        lines.append(note)
    return section("\n".join(lines))


def resolved_block(tf: TrackedFinding, rules: Mapping[str, RuleInfo]) -> dict[str, JSON]:
    """The Block Kit section for one resolved finding."""
    f = tf.finding
    r = f.resource
    end = tf.resolved_at or tf.last_seen
    lines = [
        f":white_check_mark: *{f.severity.value.upper()}* · "
        f"*{escape(clip(rule_title(f.rule_id, rules), 200))}* ({code(f.rule_id, 120)})",
        code(r.arn, 1000),
        f"account {code(r.account)} · {code(r.region)} · open for {age_text(end - tf.first_seen)}",
    ]
    return section("\n".join(lines))


def gap_line(gap: CollectionGap) -> str:
    """One gap as a sentence: "eu-west-1 in account 222… could not be read (AccessDenied on
    ecs:ListClusters); affects ecs.cluster"."""
    region = "every region" if gap.region == "*" else gap.region
    account = "every account" if gap.account == "*" else f"account {gap.account}"
    what = (
        f"{gap.resource_arn} ({region}, {account})"
        if gap.resource_arn
        else (f"{region} in {account}")
    )
    kinds = ", ".join(k.value for k in gap.kinds) or gap.service.value
    return f"{what} could not be read ({gap.error_code} on {gap.operation}); affects {kinds}"


def action_line(action: ActionRecord) -> str:
    """One mrkdwn line for a remediation action and its outcome."""
    return (
        f"*{escape(action.action)}* on {code(action.target_arn, 600)} — "
        f"{action.status.value} ({escape(action.mode)}): {escape(clip(action.reason, 300))}"
    )


def section(text: str) -> dict[str, JSON]:
    """A mrkdwn section block within Slack's text limit."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_TEXT)}}


def header(text: str) -> dict[str, JSON]:
    """A plain-text header block within Slack's header limit."""
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, HEADER_MAX)}}


def context(text: str) -> dict[str, JSON]:
    """A mrkdwn context block within Slack's text limit."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, MAX_TEXT)}]}


def footer(now: datetime, report_url: str | None) -> str:
    """The footer line: when, and a link to the report if there is one."""
    text = f"auditor · {iso(now)}"
    if report_url:
        safe = report_url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
        text += f" · <{safe}|Open the report>"
    return text


def lines_sections(lines: Sequence[str]) -> list[dict[str, JSON]]:
    """Lines packed into as few sections as fit in MAX_TEXT each."""
    out: list[dict[str, JSON]] = []
    current: list[str] = []
    size = 0
    for raw in lines:
        line = clip(raw, MAX_TEXT)
        if current and size + len(line) + 1 > MAX_TEXT:
            out.append(section("\n".join(current)))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        out.append(section("\n".join(current)))
    return out


def payload_size(payload: Mapping[str, JSON]) -> int:
    """Size in bytes of a payload as Slack receives it."""
    return len(json.dumps(payload, ensure_ascii=False).encode())


def pack(
    title: str,
    text: str,
    items: Sequence[dict[str, JSON]],
    foot: str,
    summary: str | None = None,
) -> list[dict[str, JSON]]:
    """Split item blocks into messages: header + items + (summary) + footer each, at most
    MAX_BLOCKS blocks and MAX_PAYLOAD_BYTES bytes. Titles get "(1/3)" when split."""
    fixed = 2 + (1 if summary else 0)
    budget = MAX_PAYLOAD_BYTES - 2_000  # header, footer, summary, fallback text
    chunks: list[list[dict[str, JSON]]] = [[]]
    size = 0
    for block in items:
        block_size = payload_size(block) + 1
        chunk = chunks[-1]
        if chunk and (len(chunk) + fixed >= MAX_BLOCKS or size + block_size > budget):
            chunks.append([])
            size = 0
        chunks[-1].append(block)
        size += block_size
    out: list[dict[str, JSON]] = []
    for i, chunk in enumerate(chunks, 1):
        suffix = f" ({i}/{len(chunks)})" if len(chunks) > 1 else ""
        blocks: list[JSON] = [header(title + suffix), *chunk]
        if summary and i == len(chunks):
            blocks.append(context(summary))
        blocks.append(context(foot))
        out.append({"text": clip(text + suffix, MAX_TEXT), "blocks": blocks})
    return out

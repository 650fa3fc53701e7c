"""A transport that writes what Slack would get to a JSONL file: the demo's "Slack"."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from auditor.model import JSON
from auditor.notify.transport import SendResult

_LINK = re.compile(r"<([^|<>]+)\|([^<>]+)>")
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&"}


def _plain(text: str) -> str:
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    text = text.replace("*", "").replace("`", "")
    for entity, char in _ENTITIES.items():
        text = text.replace(entity, char)
    return text


def preview(payload: Mapping[str, JSON]) -> str:
    """A plaintext rendering of a Block Kit message, for a terminal."""
    lines: list[str] = []
    blocks = payload.get("blocks")
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "header":
            lines.append(_plain(str(block["text"]["text"])))
            lines.append("=" * min(72, len(lines[-1])))
        elif kind == "section":
            lines.extend("  " + line for line in _plain(str(block["text"]["text"])).splitlines())
            lines.append("")
        elif kind == "context":
            lines.extend(_plain(str(e.get("text", ""))) for e in block["elements"])
    if not lines:
        lines.append(_plain(str(payload.get("text", ""))))
    return "\n".join(lines).rstrip()


class CaptureTransport:
    """Appends each message to `path` (one JSON object per line) and keeps a preview."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.previews: list[str] = []

    def send(self, destination: str, payload: Mapping[str, JSON], timeout: float) -> SendResult:
        del timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"destination": destination, "payload": payload}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        self.previews.append(f"→ {destination}\n{preview(payload)}")
        return SendResult(True, status=200)

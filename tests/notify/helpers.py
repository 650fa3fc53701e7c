"""Reading what a planned message says."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from auditor.model import OutboxMessage


def all_text(payload: Mapping[str, Any]) -> str:
    """Every string in a Slack payload, one per line."""
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, Mapping):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(payload)
    return "\n".join(out)


def sections(payload: Mapping[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]


def headers(messages: Iterable[OutboxMessage]) -> list[tuple[str, str]]:
    """(destination, header text) of each message: what a channel sees at a glance."""
    return [
        (
            m.destination,
            next(b["text"]["text"] for b in m.payload["blocks"] if b["type"] == "header"),
        )
        for m in messages
    ]


def size(payload: Mapping[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode())

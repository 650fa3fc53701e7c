"""Opaque cursors: the keyset position after the last item of a page (never an offset)."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi import HTTPException

MAX_LIMIT = 500


def encode(position: list[Any]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(cursor: str | None, size: int) -> list[Any] | None:
    """The position a cursor holds; 400 when it is not one this server made."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except ValueError:
        raise HTTPException(400, "bad cursor") from None
    if not isinstance(value, list) or len(value) != size:
        raise HTTPException(400, "bad cursor")
    if not all(v is None or isinstance(v, str | int) for v in value):
        raise HTTPException(400, "bad cursor")
    return value


def int_cursor(cursor: str | None) -> int | None:
    position = decode(cursor, 1)
    if position is None:
        return None
    if not isinstance(position[0], int) or isinstance(position[0], bool):
        raise HTTPException(400, "bad cursor")
    return position[0]

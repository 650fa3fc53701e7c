"""Redacted-text objects (docs/resources.md) for user data and environment values."""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
from functools import cache

from auditor.model import JSON, SecretHit, sha256_hex
from auditor.secrets.detect import Detector, short_hash


@cache
def detector() -> Detector:
    """The process's detector (its token engine compiles once)."""
    return Detector()


def scan_text(text: str) -> tuple[SecretHit, ...]:
    """Hits in a multi-line text (user data), located by line number and variable or flag."""
    return detector().scan_text(text)


def scan_assignment(name: str, value: str, location: str) -> tuple[SecretHit, ...]:
    """Hits for one NAME=value pair (an environment variable)."""
    return detector().scan_assignment(name, value, location)


def find_secret_values(lines: list[str]) -> list[list[tuple[str, str]]]:
    """(detector, value) pairs per line. The values are for redaction only: never keep them."""
    out: list[list[tuple[str, str]]] = [[] for _ in lines]
    for line, found, _where, value in detector().candidates("\n".join(lines)):
        if 0 < line <= len(out):
            out[line - 1].append((found, value))
    return out


def decode_user_data(raw: bytes | str) -> bytes:
    """User data as EC2 returns it: base64, possibly gzip-compressed inside."""
    data = raw.encode() if isinstance(raw, str) else raw
    # launch template data may already be decoded by the caller
    with contextlib.suppress(binascii.Error, ValueError):
        data = base64.b64decode(data, validate=True)
    if data[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError, EOFError):
            data = gzip.decompress(data)
    return data


def redacted_text(raw: bytes | str | None) -> dict[str, JSON]:
    """The redacted-text object of docs/resources.md for user data (base64 as AWS returns it)."""
    if raw is None or raw in ("", b""):
        return {"present": False, "sha256": None, "size": 0, "secrets": []}
    data = decode_user_data(raw)
    text = data.decode("utf-8", errors="replace")
    return {
        "present": True,
        "sha256": sha256_hex(data),
        "size": len(data),
        "secrets": [h.to_json() for h in scan_text(text)],
    }


def redacted_value(name: str, value: str, location: str) -> dict[str, JSON]:
    """The redacted-text object for one environment variable's value. Its hash is the 12-hex
    prefix only: a whole unsalted SHA-256 of a short value (a PIN, a word) is a lookup away
    from the value itself."""
    return {
        "present": True,
        "sha256": short_hash(value),
        "size": len(value.encode()),
        "secrets": [h.to_json() for h in scan_assignment(name, value, location)],
    }

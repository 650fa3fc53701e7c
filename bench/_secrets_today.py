"""Today's detector before issue 14 (auditor/secrets.py at 87cac6e), kept for bench/secrets.py.

It is the baseline of the comparison: precision/recall and throughput "before". Not used by
the product.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import re
import threading
from functools import cache
from typing import Any

from auditor.model import JSON, SecretHit, sha256_hex

NAME_DETECTOR = "Secret-looking variable name"

# Names whose value is a secret whatever it looks like. Matched case-insensitively against
# the whole variable name; *_ARN / *_FILE / *_PATH / *_NAME etc. are references, not secrets.
_SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?"
    r"|AUTH|DSN|CONN(ECTION)?_?STRING|DATABASE_URL|SIGNING_?KEY)",
    re.IGNORECASE,
)
_REFERENCE_SUFFIX = re.compile(
    r"(_ARN|_FILE|_PATH|_NAME|_ID|_URL_ENV|_ENV|_REF|_VERSION|_TTL|_EXPIRY|_HEADER|_TYPE)$",
    re.IGNORECASE,
)
_REFERENCE_VALUE = re.compile(r"^(arn:aws[a-z-]*:|ssm:|secretsmanager:|\$\{)")
_NOT_A_VALUE = re.compile(r"^(|true|false|yes|no|none|null|0|1|changeme)$", re.IGNORECASE)

_PLUGIN_NAMES = (
    "AWSKeyDetector",
    "ArtifactoryDetector",
    "AzureStorageKeyDetector",
    "BasicAuthDetector",
    "DiscordBotTokenDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "JwtTokenDetector",
    "KeywordDetector",
    "MailchimpDetector",
    "NpmDetector",
    "OpenAIDetector",
    "PrivateKeyDetector",
    "PypiTokenDetector",
    "SendGridDetector",
    "SlackDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TwilioKeyDetector",
)
_lock = threading.Lock()


def _settings_config() -> dict[str, Any]:
    plugins: list[dict[str, Any]] = [{"name": n} for n in _PLUGIN_NAMES]
    plugins.append({"name": "Base64HighEntropyString", "limit": 4.5})
    return {"plugins_used": plugins, "filters_used": []}


@cache
def _plugins() -> tuple[Any, ...]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    classes: dict[str, Any] = get_mapping_from_secret_type_to_class()
    by_name: dict[str, Any] = {}
    for plugin_class in classes.values():
        by_name[plugin_class.__name__] = plugin_class
    out: list[Any] = [by_name[n]() for n in _PLUGIN_NAMES if n in by_name]
    # Hex entropy is left out on purpose: commit SHAs and digests in deploy config are hex.
    out.append(by_name["Base64HighEntropyString"](limit=4.5))
    return tuple(out)


def short_hash(value: str) -> str:
    return sha256_hex(value)[:12]


def _scan_lines(lines: list[str]) -> list[list[tuple[str, str]]]:
    """(detector, value) pairs detect-secrets sees, per line."""
    from detect_secrets.settings import transient_settings

    out: list[list[tuple[str, str]]] = []
    # transient_settings mutates detect-secrets' global settings: one scanner at a time.
    with _lock, transient_settings(_settings_config()):
        for line in lines:
            found: list[tuple[str, str]] = []
            if line.strip():
                for plugin in _plugins():
                    for secret in plugin.analyze_line(filename="auditor", line=line):
                        if secret.secret_value:
                            found.append((plugin.secret_type, secret.secret_value))
            out.append(found)
    return out


def find_secret_values(lines: list[str]) -> list[list[tuple[str, str]]]:
    """(detector, value) pairs per line. The values are for redaction only: never keep them."""
    return _scan_lines(lines)


def secret_name(name: str) -> bool:
    """True when a variable's name alone says it holds a secret."""
    return bool(_SECRET_NAME.search(name)) and not _REFERENCE_SUFFIX.search(name)


def scan_assignment(name: str, value: str, location: str) -> tuple[SecretHit, ...]:
    """Findings for one NAME=value pair (an environment variable)."""
    hits: dict[tuple[str, str], SecretHit] = {}
    if _REFERENCE_VALUE.match(value):
        return ()
    for detector, found in _scan_lines([f'{name}="{value}"'])[0]:
        hits.setdefault((detector, found), SecretHit(location, detector, short_hash(found)))
    if not hits and secret_name(name) and not _NOT_A_VALUE.match(value.strip()):
        hits[(NAME_DETECTOR, value)] = SecretHit(location, NAME_DETECTOR, short_hash(value))
    return tuple(hits.values())


_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*[=:]\s*[\"']?([^\"'\s]+)")


def scan_text(text: str) -> tuple[SecretHit, ...]:
    """Findings for a multi-line text (user data), located by line number."""
    hits: list[SecretHit] = []
    lines = text.splitlines()
    for number, (line, detected) in enumerate(zip(lines, _scan_lines(lines), strict=True), 1):
        location = f"line {number}"
        seen: set[str] = set()
        for detector, found in detected:
            if found not in seen:
                seen.add(found)
                hits.append(SecretHit(location, detector, short_hash(found)))
        if not seen:
            match = _ASSIGNMENT.match(line)
            if match and secret_name(match.group(1)) and not _NOT_A_VALUE.match(match.group(2)):
                hits.append(SecretHit(location, NAME_DETECTOR, short_hash(match.group(2))))
    return tuple(hits)


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

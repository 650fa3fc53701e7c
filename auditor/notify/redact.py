"""The last line of defence: no secret-looking value leaves in a Slack payload.

Evidence is redacted at collection already. This guard scans every rendered string of a
payload with the same detectors (detect-secrets plugins plus secret-looking variable names)
and replaces each detected value with «redacted», whatever put it there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from auditor import secrets
from auditor.model import JSON

REDACTED = "«redacted»"
# NAME=value / NAME: value anywhere in a line, for names that say "secret" (DB_PASSWORD=...)
_ASSIGNMENT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*[=:]\s*[\"'`]?([^\s\"'`,;&<>|]+)")
_NOT_A_VALUE = re.compile(r"^(true|false|yes|no|none|null|0|1|«redacted».*)$", re.IGNORECASE)


def _assigned_secrets(line: str) -> list[str]:
    found: list[str] = []
    for match in _ASSIGNMENT.finditer(line):
        name, value = match.group(1), match.group(2)
        if (
            secrets.secret_name(name)
            and not _NOT_A_VALUE.match(value)
            and not value.startswith(("arn:", "ssm:", "secretsmanager:"))
        ):
            found.append(value)
    return found


def _strings(value: JSON, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, Mapping):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _strings(v, out)


def secret_values(texts: list[str]) -> set[str]:
    """Every secret-looking value in the texts (kept in memory only, to be replaced)."""
    lines = [line for text in texts for line in text.splitlines()]
    found: set[str] = set()
    # detect-secrets' plugins, shared with collection (auditor.secrets keeps them private)
    for detected in secrets.find_secret_values(lines):
        found.update(value for _, value in detected)
    for line in lines:
        found.update(_assigned_secrets(line))
    return {v for v in found if v and v != REDACTED}


def _replace(value: JSON, found: list[str]) -> JSON:
    if isinstance(value, str):
        for secret in found:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {k: _replace(v, found) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_replace(v, found) for v in value]
    return value


def redact_payload(payload: Mapping[str, JSON]) -> dict[str, JSON]:
    """A copy of the payload with every detected secret value replaced by «redacted»."""
    texts: list[str] = []
    _strings(payload, texts)
    found = sorted(secret_values(texts), key=len, reverse=True)  # longest first: no partials
    return {k: _replace(v, found) for k, v in payload.items()}

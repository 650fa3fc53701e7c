"""Secret detection and redaction at the edge.

Collectors call this before a value leaves the AWS response: what reaches a Resource (and so
the store, reports and Slack) is a redacted-text object with where a secret was seen, which
detector saw it and a 12-hex hash, never the value. `detect` knows the shapes secrets take in
user data and container environments; `tokens` brings provider formats from a library.
"""

from __future__ import annotations

from auditor.secrets.detect import (
    LIBRARY_REASON,
    NAME_DETECTOR,
    NOT_SECRETS,
    REASONS,
    Detector,
    short_hash,
)
from auditor.secrets.names import secret_name
from auditor.secrets.redact import (
    decode_user_data,
    find_secret_values,
    redacted_text,
    redacted_value,
    scan_assignment,
    scan_text,
)

__all__ = [
    "LIBRARY_REASON",
    "NAME_DETECTOR",
    "NOT_SECRETS",
    "REASONS",
    "Detector",
    "decode_user_data",
    "find_secret_values",
    "redacted_text",
    "redacted_value",
    "scan_assignment",
    "scan_text",
    "secret_name",
    "short_hash",
]

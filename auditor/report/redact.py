"""Defence in depth for evidence: collectors redact at the edge, the report checks again.

A string stored under a secret-looking key (PASSWORD, TOKEN, ...) is replaced by its short
hash. Redacted-text objects (`{"present", "sha256", "size", "secrets"}`) pass unchanged:
they already hold no value.
"""

from __future__ import annotations

from auditor.model import JSON
from auditor.secrets import secret_name, short_hash

REDACTED = "[redacted]"


def scrub(value: JSON) -> JSON:
    """The value with every string under a secret-looking key replaced by a redaction and hash."""
    if isinstance(value, dict):
        out: dict[str, JSON] = {}
        for key, item in value.items():
            if isinstance(item, str) and item and secret_name(str(key)):
                out[key] = f"{REDACTED} sha256:{short_hash(item)}"
            else:
                out[key] = scrub(item)
        return out
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value

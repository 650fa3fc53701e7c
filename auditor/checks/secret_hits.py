"""The secrets a collector found in a redacted text, less the allowlisted ones.

Collectors already replaced every value with a redacted-text object (docs/resources.md);
the secret checks (ec2.userdata_secrets, lt.userdata_secrets, ecs.env_secrets) only read its
`secrets` list, and the evidence keeps location, detector and hash. The estate's allowlist
(config `secrets.allow`, the rules' `allowlist` param) drops known non-secrets by hash or
variable-name glob until the entry expires.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from datetime import date
from typing import Any

from auditor.model import JSON, Clock


class Allowlist:
    """The entries of the `allowlist` param that have not expired (UTC day inclusive)."""

    def __init__(self, params: Mapping[str, Any], clock: Clock) -> None:
        today = clock.now().date()
        self.entries = [
            e
            for e in params.get("allowlist") or ()
            if isinstance(e, Mapping) and date.fromisoformat(str(e["expires"])) >= today
        ]

    def allows(self, hit: Mapping[str, Any], name: str) -> bool:
        for entry in self.entries:
            if entry.get("hash") and entry["hash"] == hit.get("hash"):
                return True
            if entry.get("name") and name and fnmatch.fnmatchcase(name, str(entry["name"])):
                return True
        return False


def secret_hits(
    redacted: Any, prefix: str, allow: Allowlist, name: str = ""
) -> list[dict[str, JSON]] | None:
    """The secret hits of a redacted-text object, located, minus the allowed ones; None when
    it is not one."""
    if not isinstance(redacted, dict | Mapping):
        return None
    out: list[dict[str, JSON]] = []
    for hit in redacted.get("secrets") or ():
        if isinstance(hit, dict | Mapping) and not allow.allows(hit, str(hit.get("name") or name)):
            out.append(
                {
                    "location": f"{prefix}{hit.get('location', '')}",
                    "detector": hit.get("detector"),
                    "hash": hit.get("hash"),
                }
            )
    return out

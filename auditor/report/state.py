"""The state a report attests to, as one hash: what was found and what could be seen.

Two cycles with the same state hash would produce reports that differ only in timestamps
(generated_at, last_seen, API call counts). A full bundle records its state hash in the
manifest; the next cycle with the same hash appends an attestation instead of a bundle.
"""

from __future__ import annotations

import hashlib

from auditor.model import JSON, canonical_json
from auditor.report.input import ReportInput

STATE_FIELD = "state_sha256"


def state_sha256(data: ReportInput) -> str:
    """Findings (status, severity, message, evidence, exemption), coverage (gaps and the event
    feed's health), scope, rules and exemptions in force, and the remediation decisions:
    anything a report shows that is not a timestamp or a count of API calls."""
    digest = hashlib.sha256()
    head: JSON = {
        "scope": data.snapshot.scope.to_json(),
        "gaps": [g.to_json() for g in data.snapshot.gaps],
        "rules_version": data.rules_version,
        "tool_version": data.tool_version,
        "rules": sorted(data.rules),
        "exemptions": sorted(
            [e.rule, e.resource, e.owner, e.reason, e.expires.isoformat(), e.expired]
            for e in data.exemptions
        ),
        "actions": sorted(
            [a.target_arn, a.action, a.status.value, a.reason, list(a.finding_ids)]
            for a in data.actions
        ),
        "stats": [
            [s.rule_id, s.evaluated, s.failed, s.exempt, s.unknown] for s in data.evaluation.stats
        ],
        # the event feed is part of coverage: it going unhealthy (or back) is news
        "events_healthy": (data.events or {}).get("healthy"),
    }
    digest.update(canonical_json(head).encode())
    for f in sorted(data.evaluation.findings, key=lambda f: f.id):
        row: JSON = [
            f.id,
            f.status.value,
            f.severity.value,
            f.message,
            dict(f.evidence),
            f.exemption.to_json() if f.exemption else None,
            f.resource.to_json(),
        ]
        digest.update(b"\n")
        digest.update(canonical_json(row).encode())
    return digest.hexdigest()

"""Retention: forget history older than a cutoff, never the latest state or a baseline.

What stays: every cycle since the cutoff (and always the latest one), every resource
version those cycles reference, the first observed version of every resource (the drift
baseline), open findings, and the remediation audit trail.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from auditor.store.findings import EVENTS, FINDINGS
from auditor.store.records import PruneResult
from auditor.store.snapshots import CONFIGS, CYCLES, OBSERVATIONS, VERSIONS


def prune(conn: sa.Connection, older_than: datetime) -> PruneResult:
    latest = conn.scalar(sa.select(sa.func.max(CYCLES.c.seq)))
    if latest is None:
        return PruneResult()
    first_kept = conn.scalar(
        sa.select(sa.func.min(CYCLES.c.seq)).where(CYCLES.c.started_at >= older_than)
    )
    cutoff = min(int(first_kept), int(latest)) if first_kept is not None else int(latest)

    old_cycles = sa.select(CYCLES.c.id).where(CYCLES.c.seq < cutoff)
    events = conn.execute(EVENTS.delete().where(EVENTS.c.cycle_id.in_(old_cycles))).rowcount
    conn.execute(OBSERVATIONS.delete().where(OBSERVATIONS.c.cycle_seq < cutoff))
    cycles = conn.execute(CYCLES.delete().where(CYCLES.c.seq < cutoff)).rowcount

    baseline_ids = sa.select(sa.func.min(VERSIONS.c.id)).group_by(VERSIONS.c.arn)
    versions = conn.execute(
        VERSIONS.delete().where(VERSIONS.c.last_seq < cutoff, VERSIONS.c.id.not_in(baseline_ids))
    ).rowcount
    referenced = sa.select(VERSIONS.c.id).where(VERSIONS.c.config_hash == CONFIGS.c.config_hash)
    configs = conn.execute(CONFIGS.delete().where(~referenced.exists())).rowcount

    resolved = sa.select(FINDINGS.c.id).where(FINDINGS.c.resolved_at < older_than)
    events += conn.execute(EVENTS.delete().where(EVENTS.c.finding_id.in_(resolved))).rowcount
    findings = conn.execute(FINDINGS.delete().where(FINDINGS.c.resolved_at < older_than)).rowcount
    return PruneResult(
        cycles=cycles,
        resource_versions=versions,
        resource_configs=configs,
        finding_events=events,
        findings=findings,
    )

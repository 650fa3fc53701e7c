"""Stage 4, commit: the cycle in one transaction, or nothing.

Snapshot, findings lifecycle, the remediation plan, the alert messages, the report the
cycle owes, and what is inside the images first read this cycle (the persistent cache by
digest; an image already stored adds no row). The store's `fence` runs first: a daemon
replica that lost its lease writes nothing.
"""

from __future__ import annotations

from auditor.collect.ecr_images_in_use import cache_entries
from auditor.engine.reuse import fingerprints
from auditor.pipeline.values import RULE_FINGERPRINTS, CycleContext, Decided, Judged
from auditor.store import CycleRecord


def commit(ctx: CycleContext, judged: Judged, decided: Decided) -> CycleRecord:
    """Write the cycle (after the lease check) and return what was written."""
    delta = judged.delta
    record = CycleRecord(
        snapshot=decided.snapshot,
        evaluation=judged.evaluation,
        tracked=delta.new + delta.still_open + delta.resolved,
        actions=decided.actions,
        outbox=decided.messages,
        report_id=decided.report_id,
        metadata={
            "api_errors": dict(ctx.sessions.counter.errors),
            RULE_FINGERPRINTS: fingerprints(ctx.rules),
        },
        seen_at=judged.now,
        image_contents=cache_entries(decided.snapshot.resources),
    )
    ctx.store.commit_cycle(record)
    return record

"""Stage 1, collect: the live estate, read unit by unit (account x region x service)."""

from __future__ import annotations

from auditor.collect.base import PreviousState
from auditor.collect.runner import collect
from auditor.pipeline.values import Collected, CycleContext
from auditor.workers import executor_for


def collect_estate(ctx: CycleContext) -> Collected:
    """The snapshot of this cycle; unreadable units are gaps in it, never an exception."""
    previous = ctx.store.latest_snapshot()
    snapshot = collect(
        ctx.settings,
        ctx.sessions,
        ctx.clock,
        # the store's image content cache: a digest read in any earlier cycle is not read again
        PreviousState.from_snapshot(previous, ctx.store.image_contents),
        ctx.options.progress,
        executor=executor_for(ctx.settings, ctx.store),
    )
    return Collected(snapshot, previous)

"""Stage 1, collect: the live estate, read unit by unit (account x region x service)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from auditor.collect.base import PreviousState
from auditor.collect.runner import collect
from auditor.pipeline.values import RULE_FINGERPRINTS, Collected, CycleContext, Prior
from auditor.store import Store
from auditor.workers import executor_for


def collect_estate(ctx: CycleContext) -> Collected:
    """The snapshot of this cycle; unreadable units are gaps in it, never an exception.
    What the judge compares it with is read from the store meanwhile: collecting waits on
    AWS, and nothing else writes findings during a cycle (the daemon runs one at a time)."""
    previous = ctx.store.latest_snapshot()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="auditor-prior") as pool:
        prior = pool.submit(read_prior, ctx.store)
        snapshot = collect(
            ctx.settings,
            ctx.sessions,
            ctx.clock,
            # the store's image content cache: a digest read in any earlier cycle is not
            # read again
            PreviousState.from_snapshot(previous, ctx.store.image_contents),
            ctx.options.progress,
            executor=executor_for(ctx.settings, ctx.store),
        )
        return Collected(snapshot, previous, prior.result())


def read_prior(store: Store) -> Prior:
    """The open findings, and the rule fingerprints the latest cycle evaluated with (none
    before these were kept)."""
    latest = store.list_cycles(limit=1)
    found = latest[0].metadata.get(RULE_FINGERPRINTS) if latest else None
    return Prior(store.open_findings(), found if isinstance(found, dict) else {})

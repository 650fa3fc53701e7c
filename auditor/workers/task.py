"""What a worker does with one unit message: claim its row, collect, write the result once.

Never run blindly twice: a message whose row is not `queued` (done, expired, or held by a
live worker) is acknowledged and skipped. A worker that lost its unit meanwhile (its lease
lapsed and another worker took it) writes nothing: `finish` only succeeds for the holder.
One canonical log line per unit, whatever happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from auditor.aws import AwsSessions
from auditor.collect.base import Collector, ImageLookup, PreviousState
from auditor.collect.units import run_unit
from auditor.model import Clock, Service
from auditor.settings import WorkersConfig
from auditor.store.work_units import UnitFinish, WorkUnits
from auditor.workers.codec import decode_message, encode_result

log = structlog.get_logger("auditor.worker")


@dataclass
class WorkerContext:
    """Everything a worker process keeps between units (one per process, built at start)."""

    worker_id: str
    config: WorkersConfig
    units: WorkUnits
    sessions: AwsSessions
    clock: Clock
    registry: Mapping[Service, Collector]
    on_unit_end: Callable[[], None] = lambda: None
    # the shared store's image content cache (Store.image_contents): a worker asks it for
    # the digests its ECR unit meets that the leader's previous snapshot did not carry
    image_lookup: ImageLookup | None = None


def handle(ctx: WorkerContext, data: Mapping[str, Any]) -> str:
    """Run one unit message; the outcome (done, skipped, discarded, failed)."""
    try:
        return _handle(ctx, data)
    finally:
        ctx.on_unit_end()


def _handle(ctx: WorkerContext, data: Mapping[str, Any]) -> str:
    began = time.perf_counter()
    message = decode_message(data)
    unit, key = message.unit, message.key
    fields: dict[str, Any] = {
        "cycle_id": message.cycle_id,
        "account": unit.account,
        "region": unit.region,
        "service": unit.service.value,
        "worker": ctx.worker_id,
    }
    delivery = ctx.units.claim(
        message.cycle_id,
        key,
        ctx.worker_id,
        ctx.config.lease_seconds,
        ctx.config.unit_timeout_seconds,
    )
    if delivery is None:
        log.info("unit", **fields, outcome="skipped", reason="not queued (done, expired or taken)")
        return "skipped"
    outcome = "failed"
    try:
        previous = PreviousState.from_resources(message.previous, ctx.image_lookup)
        run = run_unit(unit, ctx.sessions, ctx.clock, previous, ctx.registry, message.image_refs)
        finish = UnitFinish(
            state="done",
            result=encode_result(run.result),
            duration_seconds=run.duration_seconds,
            api_calls=dict(run.api_calls),
            retries=run.retries,
            throttles=run.throttles,
        )
        written = ctx.units.finish(message.cycle_id, key, ctx.worker_id, finish)
        outcome = "done" if written else "discarded"
        log.info(
            "unit",
            **fields,
            outcome=outcome,
            delivery=delivery,
            duration_s=round(run.duration_seconds, 3),
            resources=len(run.result.resources),
            gaps=len(run.result.gaps),
            api_calls=sum(run.api_calls.values()),
            retries=run.retries,
            throttles=run.throttles,
        )
        return outcome
    except Exception as exc:
        log.exception("unit", **fields, outcome="failed", delivery=delivery)
        failed = UnitFinish(
            state="failed",
            result=None,
            duration_seconds=time.perf_counter() - began,
            api_calls={},
            retries=0,
            throttles=0,
            error=type(exc).__name__,
        )
        try:
            ctx.units.finish(message.cycle_id, key, ctx.worker_id, failed)
        except Exception:  # the store is gone: the lease lapses and the leader takes over
            log.warning("unit_not_recorded", **fields)
        return outcome

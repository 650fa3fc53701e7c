"""`auditor worker`: one Celery worker process running units on a pool of threads.

Why threads: a unit waits on AWS (tens of milliseconds per call, rate-limited per
account), not on the CPU, and boto3 clients are thread-safe; one process per worker keeps
one cache of assumed-role credentials and clients for all its concurrent units and one
interpreter's memory. Concurrency is fixed by config (never the CPU count). Celery's
max-tasks-per-child recycling applies to prefork children only, so the process recycles
itself: after `workers.max_units_per_process` units it shuts down warmly and exits 0, for
its supervisor (Compose/Kubernetes restart policy, systemd) to start a fresh one.

SIGTERM (or SIGINT) is Celery's warm shutdown: no new unit is taken, running units finish
and are acknowledged, reserved ones go back to the queue. A lease heartbeat thread renews
the rows of the units this process runs; when the process dies, the leases lapse and the
leader hands the units to another worker.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from typing import Any

import structlog
from celery.signals import worker_shutting_down

from auditor.aws import AwsSessions, client_config
from auditor.collect.runner import api_services, collectors, image_options
from auditor.model import SystemClock
from auditor.settings import Settings, require_shared_store
from auditor.store import Store
from auditor.workers.app import make_app
from auditor.workers.redis_state import TokenBuckets
from auditor.workers.task import WorkerContext, handle

log = structlog.get_logger("auditor.worker")


class _Recycler:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._count = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self._count += 1
            due = self._limit > 0 and self._count == self._limit
        if due:
            log.info("worker_recycling", units=self._count)
            os.kill(os.getpid(), signal.SIGTERM)  # Celery's warm shutdown


def _heartbeat(ctx: WorkerContext, stop: threading.Event) -> None:
    interval = max(0.5, ctx.config.lease_seconds / 3)
    while not stop.wait(interval):
        try:
            ctx.units.renew(ctx.worker_id, ctx.config.lease_seconds)
        except Exception as exc:  # the store is unreachable: the leases lapse
            log.warning("lease_renew_failed", error=type(exc).__name__)


def worker_context(
    settings: Settings, store: Store, concurrency: int, *, shared_clients: bool = True
) -> WorkerContext:
    """What one worker process keeps between units (bench/worker_cpu.py measures units
    through it; `shared_clients=False` is the client per account it compares with)."""
    config = settings.workers
    sessions = AwsSessions(
        config=client_config(
            settings.collect.max_attempts,
            pool=max(10, concurrency * 2),
            read_timeout=settings.collect.read_timeout_seconds,
            connect_timeout=settings.collect.connect_timeout_seconds,
        ),
        limiter=TokenBuckets(config),
        max_clients=max(64, 16 * concurrency),
        # a long-lived worker asks again after a minute (in-process: once per cycle)
        refusal_seconds=60.0,
        # one client per (API service, region) for every account: see AwsSessions
        shared_clients=shared_clients,
    )
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    ctx = WorkerContext(
        worker_id=worker_id,
        config=config,
        units=store.work_units(),
        sessions=sessions,
        clock=SystemClock(),
        registry=collectors(image_options(settings, per_cycle_budget=False)),
        on_unit_end=_Recycler(config.max_units_per_process),
        image_lookup=store.image_contents,
    )
    if isinstance(settings.regions, tuple) and settings.regions:
        # clients of the configured regions before the first unit (other regions: on use)
        sessions.prepare(api_services(settings.services), settings.regions)
    return ctx


def serve(settings: Settings, concurrency: int | None = None) -> int:
    """Run the worker until SIGTERM/SIGINT (or recycling); its exit code."""
    require_shared_store(settings)
    config = settings.workers
    if not config.broker:
        from auditor.settings import ConfigError

        raise ConfigError(f"{settings.source}: workers.broker is not set (redis://HOST:6379/0)")
    concurrency = concurrency or config.concurrency
    store = Store.open(settings.store)
    ctx = worker_context(settings, store, concurrency)
    worker_id = ctx.worker_id

    def collect_unit(message: dict[str, Any]) -> None:
        handle(ctx, message)

    app = make_app(config, collect_unit)
    # our "unit" line is the one line per unit: Celery's received/succeeded lines are noise
    for name in ("celery.worker.strategy", "celery.app.trace"):
        logging.getLogger(name).setLevel(logging.WARNING)

    def on_shutdown(sig: str = "", how: str = "", exitcode: int = 0, **_: Any) -> None:
        log.info("worker_stopping", worker=worker_id, signal=sig, how=how)

    worker_shutting_down.connect(on_shutdown, weak=False)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(ctx, stop), name="lease", daemon=True)
    beat.start()
    log.info(
        "worker_started",
        worker=worker_id,
        queue=config.queue,
        concurrency=concurrency,
        pool="threads",
        unit_timeout_seconds=config.unit_timeout_seconds,
    )
    worker = app.Worker(
        hostname=f"auditor-{uuid.uuid4().hex[:8]}@{socket.gethostname()}",
        pool_cls="threads",
        concurrency=concurrency,
        queues=[config.queue],
        without_gossip=True,
        without_mingle=True,
        loglevel=logging.getLevelName(logging.getLogger().level),
        quiet=True,
    )
    try:
        worker.start()
    finally:
        stop.set()
        beat.join(timeout=5)
        store.close()
    code = int(worker.exitcode or 0)
    log.info("worker_stopped", worker=worker_id, exit_code=code)
    return code

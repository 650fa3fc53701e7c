"""`auditor run`: scheduled cycles, one leader among replicas, health, metrics, clean shutdown.

Every replica runs the same scheduler; only the holder of the `scheduler` lease in the store
runs cycles (a lease row with expiry: works on PostgreSQL and SQLite). The lease is renewed
every quarter of its lifetime, so a follower takes over within `lease + lease/4` after the
leader dies. Jobs use max_instances=1, coalescing and a misfire grace time: a slow cycle
never overlaps the next, a missed one runs once.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from auditor.health import HealthServer
from auditor.metrics import Metrics
from auditor.model import Clock, SystemClock
from auditor.pipeline import CycleOptions, CycleResult, run_cycle
from auditor.settings import Settings
from auditor.store import Store

log = structlog.get_logger("auditor.daemon")

LEASE_NAME = "scheduler"
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def interval_seconds(expression: str) -> float | None:
    """Seconds of an 'every 15m' expression; None for a cron expression."""
    m = re.fullmatch(r"every\s+(\d+)\s*([smhd])", expression.strip())
    if not m:
        return None
    return float(timedelta(**{_UNITS[m.group(2)]: int(m.group(1))}).total_seconds())


def make_trigger(expression: str, jitter: int) -> BaseTrigger:
    seconds = interval_seconds(expression)
    if seconds is not None:
        return IntervalTrigger(seconds=seconds, jitter=jitter or None, timezone=UTC)
    return CronTrigger.from_crontab(expression, timezone=UTC)


def expected_interval(expression: str) -> float:
    """The nominal time between cycles, for /readyz (cron: the gap between two next fires)."""
    seconds = interval_seconds(expression)
    if seconds is not None:
        return seconds
    trigger = CronTrigger.from_crontab(expression, timezone=UTC)
    now = datetime.now(UTC)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    return (second - first).total_seconds() if first and second else 3600.0


class Daemon:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.metrics = Metrics()
        self.store = Store.open(settings.store)
        self.is_leader = False
        self.last_cycle_at: datetime | None = None
        self.started_at = self.clock.now()
        self.interval = expected_interval(settings.schedule.scan)
        sched = settings.schedule
        self.lease_seconds = float(sched.leader_lease_seconds) * 0.75
        self._stop = threading.Event()
        self._cycle_running = threading.Event()
        self._cycle_lock = threading.Lock()
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": sched.misfire_grace_seconds,
            },
            timezone=UTC,
        )
        host, _, port = settings.metrics.listen.rpartition(":")
        self.health = HealthServer(host, int(port), self.metrics, self.ready)

    # -- jobs -------------------------------------------------------------------------------
    def heartbeat(self) -> None:
        """Acquire or renew the scheduler lease; start a cycle at once on becoming leader."""
        try:
            leader = self.store.try_acquire_lease(
                LEASE_NAME, self.holder, self.lease_seconds, self.clock.now()
            )
        except Exception:
            log.exception("lease_error")
            leader = False
        if leader and not self.is_leader:
            log.info("leader_acquired", holder=self.holder)
            latest = self.store.list_cycles(limit=1)
            due = (
                not latest
                or (self.clock.now() - latest[0].finished_at).total_seconds() >= self.interval
            )
            if due and not self._stop.is_set():
                self.scheduler.modify_job("cycle", next_run_time=datetime.now(UTC))
        elif self.is_leader and not leader:
            log.warning("leader_lost", holder=self.holder)
        self.is_leader = leader
        self.metrics.leader.set(1 if leader else 0)

    def cycle(self) -> CycleResult | None:
        if self._stop.is_set() or not self.is_leader:
            return None
        with self._cycle_lock:
            self._cycle_running.set()
            try:
                result = run_cycle(
                    self.settings, clock=self.clock, store=self.store, options=CycleOptions()
                )
            except Exception:
                self.metrics.cycles.labels(result="error").inc()
                log.exception("cycle_failed")
                return None
            finally:
                self._cycle_running.clear()
            self.metrics.observe_cycle(result)
            self.last_cycle_at = result.snapshot.finished_at
            return result

    def retention(self) -> None:
        if not self.is_leader:
            return
        cutoff = self.clock.now() - timedelta(days=self.settings.schedule.retention_days)
        result = self.store.prune(cutoff)
        log.info("retention", cutoff=cutoff.isoformat(), result=str(result))

    # -- health -----------------------------------------------------------------------------
    def ready(self) -> tuple[bool, str]:
        if not self.store.ping():
            return False, "store unreachable"
        if not self.is_leader:
            return True, "follower: ready to take over"
        reference = self.last_cycle_at or self.started_at
        age = (self.clock.now() - reference).total_seconds()
        if age > 2 * self.interval:
            return False, f"last cycle {age:.0f}s ago (limit {2 * self.interval:.0f}s)"
        return True, "ok"

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        sched = self.settings.schedule
        self.health.start()
        self.scheduler.add_job(
            self.heartbeat,
            IntervalTrigger(seconds=max(1.0, self.lease_seconds / 4), timezone=UTC),
            id="heartbeat",
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.add_job(
            self.cycle, make_trigger(sched.scan, sched.jitter_seconds), id="cycle"
        )
        self.scheduler.add_job(
            self.retention, CronTrigger(hour=3, minute=17, timezone=UTC), id="retention"
        )
        self.scheduler.start()
        log.info(
            "daemon_started",
            holder=self.holder,
            schedule=sched.scan,
            listen=self.settings.metrics.listen,
        )

    def stop(self, grace: float | None = None) -> bool:
        """Stop scheduling; wait for a running cycle up to the grace period.

        Returns False when the cycle had to be abandoned (its transaction never committed).
        """
        self._stop.set()
        grace = self.settings.schedule.shutdown_grace_seconds if grace is None else grace
        try:
            self.scheduler.pause()
        except Exception:  # already stopped
            log.debug("scheduler_pause_failed")
        finished = self._cycle_lock.acquire(timeout=grace)
        if finished:
            self._cycle_lock.release()
        self.scheduler.shutdown(wait=False)
        try:
            if self.is_leader:
                self.store.release_lease(LEASE_NAME, self.holder)
        except Exception:
            log.exception("lease_release_failed")
        self.health.stop()
        log.info("daemon_stopped", clean=finished)
        return finished

    def serve_forever(self) -> int:
        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("signal", signal=signal.Signals(signum).name)
            self._stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        self._stop.wait()
        clean = self.stop()
        if not clean:
            # The cycle thread cannot be interrupted; exiting abandons it and its open
            # transaction is rolled back by the database. The previous snapshot stays latest.
            log.warning("cycle_abandoned")
            os._exit(0)
        self.store.close()
        return 0


def run(settings: Settings, **kwargs: Any) -> int:
    return Daemon(settings, **kwargs).serve_forever()

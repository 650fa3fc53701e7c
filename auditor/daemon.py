"""`auditor run`: scheduled cycles, one leader among replicas, health, metrics, clean shutdown.

Every replica runs the same scheduler; only the holder of the `scheduler` lease in the store
runs cycles (a lease row with expiry: works on PostgreSQL and SQLite). The lease lives 6/10 of
`leader_lease_seconds` and every replica tries to take or renew it every tenth of it, so
after the leader dies a follower takes over within 7/10 of `leader_lease_seconds`, and a
leader survives five missed renewals in a row. The lease is renewed once more right
before a cycle commits: a leader that lost it (paused process, partitioned database) abandons
its cycle instead of writing next to the new leader's.

Jobs use max_instances=1, coalescing and a misfire grace time: a slow cycle never overlaps
the next; the runs it made the schedule skip are caught up by ONE cycle right after it.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import structlog
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from auditor.aws import AwsSessions, Target, client_config
from auditor.events.feed import EventFeed
from auditor.events.lookup import RateLimiter, fill_in
from auditor.events.loop import FeedLoop
from auditor.events.microcycle import MicroCycler
from auditor.health import HealthServer
from auditor.metrics import Metrics
from auditor.model import Clock, SystemClock
from auditor.pipeline import CycleOptions, CycleResult, preflight, publish_latest, run_cycle
from auditor.settings import ConfigError, Settings
from auditor.store import Store

log = structlog.get_logger("auditor.daemon")

LEASE_NAME = "scheduler"
CYCLE_JOB = "cycle"
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

CycleRunner = Callable[[Store], CycleResult]
"""Runs one cycle against the store it is given (the pipeline's run_cycle, or a test fake)."""


class LeadershipLost(RuntimeError):
    """This replica no longer holds the scheduler lease: its cycle must not commit."""


def interval_seconds(expression: str) -> float | None:
    """Seconds of an 'every 15m' expression; None for a cron expression."""
    m = re.fullmatch(r"every\s+(\d+)\s*([smhd])", expression.strip())
    if not m:
        return None
    return float(timedelta(**{_UNITS[m.group(2)]: int(m.group(1))}).total_seconds())


def make_trigger(expression: str, jitter: int) -> BaseTrigger:
    seconds = interval_seconds(expression)
    if seconds is not None:
        if seconds <= 0:
            raise ConfigError(f"schedule: {expression!r}: the interval must be positive")
        return IntervalTrigger(seconds=seconds, jitter=jitter or None, timezone=UTC)
    try:
        return CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as exc:
        raise ConfigError(f"schedule: {expression!r}: {exc}") from None


def expected_interval(expression: str, now: datetime) -> float:
    """The nominal time between cycles, for /readyz (cron: the gap between two next fires)."""
    seconds = interval_seconds(expression)
    if seconds is not None:
        return seconds
    trigger = CronTrigger.from_crontab(expression, timezone=UTC)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    return (second - first).total_seconds() if first and second else 3600.0


class _LeaderStore(Store):
    """The store as a cycle sees it: it commits and acts only while this replica holds the
    lease (`fence`, which the pipeline calls before the commit and the first remediation
    call: the one lease check)."""

    def __init__(self, store: Store, check: Callable[[], None]) -> None:
        super().__init__(store.engine)
        self._check = check

    def fence(self) -> None:
        self._check()

    def close(self) -> None:
        """The engine belongs to the daemon's store; the daemon closes it."""


def _default_runner(
    settings: Settings,
    clock: Clock,
    coverage: Callable[[], dict[str, Any] | None],
    metrics: Metrics,
) -> CycleRunner:
    # With a report schedule, reports are published on it rather than after every cycle.
    # Every finished unit feeds the per-unit metrics, wherever it ran.
    options = CycleOptions(
        write_report=settings.schedule.report is None, progress=metrics.observe_unit
    )

    def run(store: Store) -> CycleResult:
        chosen = replace(options, events_coverage=coverage())
        return run_cycle(settings, clock=clock, store=store, options=chosen)

    return run


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        clock: Clock | None = None,
        runner: CycleRunner | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.metrics = Metrics()
        sched = settings.schedule
        self._cycle_trigger = make_trigger(sched.scan, sched.jitter_seconds)
        self.interval = expected_interval(sched.scan, self.clock.now())
        self.lease_ttl = float(sched.leader_lease_seconds) * 0.6
        self.heartbeat_seconds = max(0.5, float(sched.leader_lease_seconds) / 10)
        if runner is None:
            # bad rules, exemptions or a missing signing key stop the daemon at start (exit 2),
            # rather than failing every cycle
            preflight(settings, write_report=True)
        host, _, port = settings.metrics.listen.rpartition(":")
        try:  # before the store is opened: a port in use is a config error, nothing written
            self.health = HealthServer(host, int(port), self.metrics, self.ready)
        except OSError as exc:
            raise ConfigError(
                f"metrics.listen: cannot listen on {settings.metrics.listen}: {exc.strerror or exc}"
            ) from None
        self.store = store or Store.open(settings.store)  # migrates, under a lock on PostgreSQL
        self._runner = runner or _default_runner(
            settings, self.clock, self.events_coverage, self.metrics
        )
        # micro-cycles and full cycles never overlap (a micro-cycle merges into the latest)
        self._work_lock = threading.Lock()
        self.feed: FeedLoop | None = None
        self._lookup: Callable[[], int] | None = None
        self.last_full_cycle_at: datetime | None = None
        self.healthy_interval = (
            interval_seconds(settings.events.healthy_scan) if settings.events.healthy_scan else None
        )
        self.is_leader = False
        self.leader_since: datetime | None = None
        self.last_cycle_at: datetime | None = None
        self.last_outcome = "no cycle run by this replica yet"  # said by /readyz
        self._stop = threading.Event()
        self._stopped = False
        self._missed = threading.Event()
        self._cycle_lock = threading.Lock()
        self._lease_lock = threading.Lock()
        self._thread_prefix = f"auditor-jobs-{uuid.uuid4().hex[:6]}"
        self.scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(
                    max_workers=4, pool_kwargs={"thread_name_prefix": self._thread_prefix}
                )
            },
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": sched.misfire_grace_seconds,
            },
            timezone=UTC,
        )

    # -- leadership -------------------------------------------------------------------------
    def _set_leader(self, leader: bool, released: bool = False) -> None:
        if leader and not self.is_leader:
            self.leader_since = self.clock.now()
            log.info("leader_acquired", holder=self.holder)
        elif self.is_leader and not leader:
            self.leader_since = None
            if released:
                log.info("leader_released", holder=self.holder)
            else:
                log.warning("leader_lost", holder=self.holder)
        self.is_leader = leader
        self.metrics.leader.set(1 if leader else 0)

    def _renew(self) -> bool:
        with self._lease_lock:
            if self._stop.is_set() and not self.is_leader:
                return False  # a replica on its way out never takes the lead
            try:
                leader = self.store.try_acquire_lease(
                    LEASE_NAME, self.holder, self.lease_ttl, self.clock.now()
                )
            except Exception as exc:  # database unreachable: not leader until it answers
                log.warning("lease_error", error=type(exc).__name__)
                leader = False
            self._set_leader(leader)
            return leader

    def _fence(self) -> None:
        if not self._renew():
            raise LeadershipLost(self.holder)

    def heartbeat(self) -> None:
        """Acquire or renew the lease; on becoming leader, run a cycle at once if one is due."""
        was_leader = self.is_leader
        leader = self._renew()
        self._refresh_last_cycle()
        if leader and not was_leader and not self._stop.is_set():
            due = self.last_cycle_at is None or (
                (self.clock.now() - self.last_cycle_at).total_seconds() >= self.interval
            )
            if due:
                self._run_cycle_now()

    def _refresh_last_cycle(self) -> None:
        """The newest committed cycle in the store, whoever ran it: every replica reports
        the same freshness, so an alert on it survives a change of leader."""
        try:
            latest = self.store.list_cycles(limit=1)
        except Exception as exc:
            log.warning("store_read_error", error=type(exc).__name__)
            return
        if latest:
            self.last_cycle_at = latest[0].finished_at
            self.metrics.last_cycle.set(latest[0].finished_at.timestamp())

    def _run_cycle_now(self) -> None:
        try:
            self.scheduler.modify_job(CYCLE_JOB, next_run_time=datetime.now(UTC))
        except Exception:  # the scheduler is shutting down
            log.debug("cycle_not_rescheduled")

    # -- jobs -------------------------------------------------------------------------------
    def cycle(self) -> CycleResult | None:
        """One audit cycle, if this replica leads and the daemon is not stopping."""
        if self._stop.is_set() or not self.is_leader:
            return None
        if not self._cycle_lock.acquire(blocking=False):  # held by stop(): shutting down
            return None
        if self._reconciliation_not_due():
            self._cycle_lock.release()
            return None
        self.metrics.cycle_in_progress.set(1)
        try:
            with self._work_lock:
                result = self._runner(_LeaderStore(self.store, self._fence))
        except LeadershipLost:
            self.metrics.cycles.labels(result="abandoned").inc()
            log.warning("cycle_abandoned", reason="leadership lost before commit")
            return None
        except Exception as exc:
            self.metrics.cycles.labels(result="error").inc()
            self.metrics.observe_failure(self.settings.services)
            self.last_outcome = f"last cycle failed ({type(exc).__name__}); retrying on schedule"
            log.exception("cycle_failed")
            return None
        finally:
            self.metrics.cycle_in_progress.set(0)
            self._cycle_lock.release()
        self.metrics.observe_cycle(result)
        gaps = len(result.snapshot.gaps)
        self.last_outcome = (
            "last cycle complete" if not gaps else f"last cycle incomplete: {gaps} gap(s)"
        )
        self.last_full_cycle_at = self.clock.now()
        self._refresh_last_cycle()
        return result

    # -- event feed -------------------------------------------------------------------------
    def attach_feed(self, feed: FeedLoop, lookup: Callable[[], int] | None = None) -> None:
        """Read the event feed (events.queue_url) with micro-cycles while leading; `lookup`
        (events.lookup) fills in actors from CloudTrail on its own job, never in a cycle."""
        self.feed = feed
        self._lookup = lookup

    def lookup(self) -> None:
        """Attribution look-ups for drift the feed did not report (leader only)."""
        if self._stop.is_set() or not self.is_leader or self._lookup is None:
            return
        try:
            self._lookup()
        except Exception:
            log.exception("lookup_failed")

    def events_coverage(self) -> dict[str, Any] | None:
        """The feed's state for the report's coverage (None without a feed)."""
        return self.feed.health().coverage() if self.feed is not None else None

    def _reconciliation_not_due(self) -> bool:
        """With a healthy feed the full cycle runs on `events.healthy_scan` instead; an
        unhealthy feed falls back to `schedule.scan` at once."""
        if self.feed is None or self.healthy_interval is None or self.last_full_cycle_at is None:
            return False
        if not self.feed.health().healthy:
            return False
        age = (self.clock.now() - self.last_full_cycle_at).total_seconds()
        return age < self.healthy_interval

    def retention(self) -> None:
        """Forget database history older than schedule.retention_days (leader only)."""
        if self._stop.is_set() or not self.is_leader:
            return
        cutoff = self.clock.now() - timedelta(days=self.settings.schedule.retention_days)
        try:
            result = self.store.prune(cutoff)
        except Exception:
            log.exception("retention_failed")
            return
        log.info("retention", cutoff=cutoff.isoformat(), result=str(result))

    def report(self) -> None:
        """Publish a signed report of the latest cycle (schedule.report; leader only)."""
        if self._stop.is_set() or not self.is_leader:
            return
        try:
            path = publish_latest(
                self.settings, self.store, self.clock, events_coverage=self.events_coverage()
            )
        except Exception:
            log.exception("report_failed")
            return
        log.info("report_published", path=str(path))

    def _on_job_event(self, event: JobEvent) -> None:
        if event.job_id != CYCLE_JOB:
            return
        if event.code == EVENT_JOB_MAX_INSTANCES:
            self._missed.set()
            self.metrics.cycles_skipped.inc()
            log.warning("cycle_overran", detail="a run was due while the cycle still ran")
        elif event.code == EVENT_JOB_MISSED:
            self.metrics.cycles_skipped.inc()
            log.warning("cycle_missed", scheduled=str(getattr(event, "scheduled_run_time", "")))
        elif self._missed.is_set() and not self._stop.is_set():
            # dispatched after the executor forgot the instance: a new run can start now
            self._missed.clear()
            log.info("cycle_catch_up")
            self._run_cycle_now()

    # -- health -----------------------------------------------------------------------------
    def ready(self) -> tuple[bool, str]:
        if self._stop.is_set():
            return False, "shutting down"
        if not self.store.ping():
            return False, "store unreachable"
        if not self.is_leader:
            return True, "follower: ready to take over"
        since = [t for t in (self.last_cycle_at, self.leader_since) if t is not None]
        age = (self.clock.now() - max(since)).total_seconds() if since else 0.0
        if age > 2 * self.interval:
            return (
                False,
                f"last cycle {age:.0f}s ago (limit {2 * self.interval:.0f}s); {self.last_outcome}",
            )
        if self.feed is not None:
            health = self.feed.health()
            if not health.healthy:
                return False, (
                    f"event feed unhealthy: {health.reason}; "
                    f"falling back to the full schedule ({self.settings.schedule.scan})"
                )
        return True, f"ok; {self.last_outcome}"

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        sched = self.settings.schedule
        # our listener logs skips and misfires as structured events
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        self.health.start()
        self.scheduler.add_listener(
            self._on_job_event,
            EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR,
        )
        self.scheduler.add_job(
            self.heartbeat,
            IntervalTrigger(seconds=self.heartbeat_seconds, timezone=UTC),
            id="heartbeat",
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.add_job(self.cycle, self._cycle_trigger, id=CYCLE_JOB)
        self.scheduler.add_job(
            self.retention, CronTrigger(hour=3, minute=17, timezone=UTC), id="retention"
        )
        if sched.report is not None:
            self.scheduler.add_job(
                self.report, CronTrigger.from_crontab(sched.report, timezone=UTC), id="report"
            )
        self.scheduler.start()
        if self.feed is not None:
            self.feed.start()
        if self._lookup is not None:
            self.scheduler.add_job(
                self.lookup, IntervalTrigger(minutes=5, timezone=UTC), id="lookup"
            )
        log.info(
            "daemon_started",
            holder=self.holder,
            schedule=sched.scan,
            listen=f"{self.settings.metrics.listen.rpartition(':')[0]}:{self.health.port}",
        )

    def stop(self, grace: float | None = None) -> bool:
        """Start no new job; wait for a running cycle up to the grace period.

        True when no cycle is left running; the lease is then released so a follower takes
        over at once. False when a cycle is still running: the caller must end the process,
        which abandons it (its transaction never committed) and leaves the lease to expire.
        """
        if self._stopped:
            return True
        self._stopped = True
        self._stop.set()
        grace = float(self.settings.schedule.shutdown_grace_seconds if grace is None else grace)
        deadline = time.monotonic() + grace
        # heartbeats go on meanwhile: a cycle finishing late in a long grace period keeps the
        # lease, so no follower starts a cycle next to it
        finished = self._cycle_lock.acquire(timeout=grace)  # kept: no cycle starts after
        if self.feed is not None:
            finished = self.feed.stop(max(0.0, deadline - time.monotonic())) and finished
        self.scheduler.shutdown(wait=False)
        if finished:
            with self._lease_lock:
                try:
                    if self.is_leader:
                        self.store.release_lease(LEASE_NAME, self.holder)
                except Exception as exc:
                    log.warning("lease_release_failed", error=type(exc).__name__)
                self._set_leader(False, released=True)
            finished = _join_workers(self._thread_prefix, deadline)
        log.info("daemon_stopped", clean=finished)
        self.health.stop()
        return finished

    def serve_forever(self) -> int:
        def on_signal(signum: int, _frame: FrameType | None) -> None:
            if self._stop.is_set():  # a second signal: do not wait any longer
                log.warning("signal_again", signal=signal.Signals(signum).name)
                _exit_now()
            log.info("signal", signal=signal.Signals(signum).name)
            self._stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        while not self._stop.wait(1.0):
            pass
        if not self.stop():
            # A thread cannot be interrupted: ending the process abandons the cycle, and the
            # database rolls its open transaction back. The previous snapshot stays latest.
            log.warning("cycle_abandoned", reason="shutdown grace period over")
            _exit_now()
        self.store.close()
        return 0


def _join_workers(prefix: str, deadline: float) -> bool:
    """Wait for the scheduler's worker threads (a heartbeat may still be talking to the
    database) until `deadline`; False if one is still busy then."""
    for thread in threading.enumerate():
        if not thread.name.startswith(prefix) or thread is threading.current_thread():
            continue
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            return False
    return True


def _exit_now() -> None:
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(0)


def run(settings: Settings) -> int:
    daemon = Daemon(settings)
    if settings.events.enabled:
        daemon.attach_feed(feed_loop(settings, daemon), lookup_job(settings, daemon))
    return daemon.serve_forever()


def lookup_job(settings: Settings, daemon: Daemon) -> Callable[[], int] | None:
    """CloudTrail LookupEvents fallback (events.lookup.enabled), paced per account/region."""
    if not settings.events.lookup.enabled:
        return None
    sessions = AwsSessions(config=client_config(settings.collect.max_attempts))
    limiter = RateLimiter(settings.events.lookup.rate_per_second)
    return lambda: fill_in(settings, daemon.store, sessions, daemon.clock, limiter)


def feed_loop(settings: Settings, daemon: Daemon) -> FeedLoop:
    """The event feed of `events:` wired to the daemon's store, lock, leadership, metrics."""
    sessions = AwsSessions(config=client_config(settings.collect.max_attempts))
    region = settings.events.queue_region or sessions.default_region
    # the daemon's own credentials (no role): no AWS call at start, the feed reports errors
    sqs = sessions.client(Target("self"), "sqs", region)
    cycler = MicroCycler(settings, sessions=sessions, clock=daemon.clock)
    return FeedLoop(
        EventFeed(settings.events, sqs, daemon.clock),
        cycler,
        lambda: _LeaderStore(daemon.store, daemon._fence),
        work_lock=daemon._work_lock,
        leading=lambda: daemon.is_leader and not daemon._stop.is_set(),
        metrics=daemon.metrics,
    )

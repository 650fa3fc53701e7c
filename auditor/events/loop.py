"""The daemon's feed thread: long-poll, micro-cycle, repeat, while this replica leads.

Micro-cycles and full cycles never run at once (`work_lock`): a micro-cycle merges into the
latest committed snapshot, so a full cycle committing under it would be undone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import structlog

from auditor.events.feed import EventFeed, FeedHealth, PollResult
from auditor.events.microcycle import MicroCycler, MicroResult, Received
from auditor.metrics import Metrics
from auditor.store import Store

log = structlog.get_logger("auditor.events")

IDLE_SECONDS = 1.0  # between checks while not leading


class FeedLoop:
    def __init__(
        self,
        feed: EventFeed,
        cycler: MicroCycler,
        store: Callable[[], Store],
        *,
        work_lock: threading.Lock,
        leading: Callable[[], bool],
        metrics: Metrics,
    ) -> None:
        self.feed = feed
        self.cycler = cycler
        self._store = store
        self._work_lock = work_lock
        self._leading = leading
        self.metrics = metrics
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def health(self) -> FeedHealth:
        return self.feed.health()

    def _handle(self, batch: Sequence[Received]) -> MicroResult:
        with self._work_lock:
            return self.cycler.run(self._store(), batch)

    def step(self) -> PollResult | None:
        """One long poll and its micro-cycle (the thread's body; tests call it directly)."""
        try:
            result = self.feed.poll_once(self._handle)
        except Exception:
            log.exception("micro_cycle_failed")  # nothing deleted: the events come back
            self.metrics.cycles.labels(result="error").inc()
            result = None
        self.observe(result)
        return result

    def observe(self, result: PollResult | None) -> None:
        health = self.feed.health()
        queue = self.feed.queue_url.rsplit("/", 1)[-1]
        self.metrics.feed_healthy.labels(queue=queue).set(1 if health.healthy else 0)
        self.metrics.feed_lag.labels(queue=queue).set(health.lag_seconds)
        if result is None:
            return
        m = self.metrics.events
        m.labels(result="poison").inc(result.poison)
        m.labels(result="duplicate").inc(result.duplicates)
        m.labels(result="retry").inc(result.retried)
        micro = result.micro
        if micro is not None and micro.cycle is not None:
            m.labels(result="handled").inc(len(micro.done) - micro.duplicates)
            self.metrics.micro_cycles.inc()
            self.metrics.event_latency.observe(result.latency_seconds)
            for tracked in micro.cycle.delta.new:
                self.metrics.findings_new.labels(severity=tracked.finding.severity.value).inc()
            for tracked in micro.cycle.delta.resolved:
                self.metrics.findings_resolved.labels(severity=tracked.finding.severity.value).inc()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._leading():
                self._stop.wait(IDLE_SECONDS)
                continue
            self.step()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="auditor-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        """Stop after the current poll (at most one long-poll wait) and micro-cycle."""
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

"""The optional CloudTrail LookupEvents fallback: who made a drift nobody reported on the feed.

Bounded and never blocking: it runs as its own daemon job after cycles, at most
`events.lookup.max_per_cycle` look-ups per run, paced per (account, region) under the API's
2 requests per second. What it finds is stored like a feed event (origin "lookup") and the
next cycle attributes the finding; until then the finding says the actor is unknown.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import structlog

from auditor.aws import AwsSessions, Target, error_code
from auditor.collect.base import AWS_ERRORS
from auditor.events.parse import CALLS, attribution_of
from auditor.events.targets import role_for
from auditor.model import Attribution, Clock, TrackedFinding
from auditor.settings import Settings
from auditor.store import EventRecord, Store

log = structlog.get_logger("auditor.events")

DRIFT_PREFIX = "drift."


class RateLimiter:
    """At most `rate` acquisitions per second per key (a token bucket of one)."""

    def __init__(
        self,
        rate: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def acquire(self, key: Hashable) -> None:
        with self._lock:
            now = self._monotonic()
            at = max(now, self._next.get(key, now))
            self._next[key] = at + self.interval
        if at > now:
            self._sleep(at - now)


def latest_change(
    client: Any, resource_id: str, start: datetime, end: datetime
) -> Attribution | None:
    """The latest recorded call among those auditor follows that named the resource."""
    response = client.lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": resource_id}],
        StartTime=start,
        EndTime=end,
        MaxResults=50,
    )
    found: list[Attribution] = []
    for event in response.get("Events", []):
        try:
            record = json.loads(event.get("CloudTrailEvent") or "{}")
            if record.get("eventName") in CALLS and not record.get("errorCode"):
                found.append(attribution_of(record))
        except ValueError:
            continue
    if not found:
        return None
    latest = max(found, key=lambda a: (a.event_time, a.event_id))
    return replace(latest, origin="lookup")


def unattributed(store: Store, limit: int) -> list[TrackedFinding]:
    """Open drift findings that say their actor is unknown, newest first."""
    todo = [
        t
        for t in store.open_findings().values()
        if t.finding.rule_id.startswith(DRIFT_PREFIX)
        and isinstance(t.finding.evidence.get("changed_by"), dict)
        and t.finding.evidence["changed_by"].get("actor") == "unknown"
    ]
    return sorted(todo, key=lambda t: t.first_seen, reverse=True)[:limit]


def fill_in(
    settings: Settings,
    store: Store,
    sessions: AwsSessions,
    clock: Clock,
    limiter: RateLimiter,
    caller: str | None = None,
) -> int:
    """Look up the actor of up to max_per_cycle unattributed drift findings; store what was
    found. Returns how many were found. Errors are logged and skipped, never raised."""
    config = settings.events.lookup
    records: list[EventRecord] = []
    for t in unattributed(store, config.max_per_cycle):
        ref = t.finding.resource
        limiter.acquire((ref.account, ref.region))
        try:
            client = sessions.client(
                Target(ref.account, role_for(settings, ref.account, caller)),
                "cloudtrail",
                ref.region,
            )
            start = t.first_seen - timedelta(hours=config.lookback_hours)
            found = latest_change(client, ref.id, start, t.first_seen)
        except AWS_ERRORS as exc:
            log.warning("lookup_failed", resource=ref.arn, error=error_code(exc))
            continue
        if found is None:
            continue
        records.append(
            EventRecord(
                event_id=found.event_id,
                detail_type="CloudTrail LookupEvents",
                event_name=found.event_name,
                account=ref.account,
                region=ref.region,
                received_at=clock.now(),
                arns=(ref.arn,),
                attribution=found,
            )
        )
    if records:
        store.record_events(records)
    log.info("attribution_lookup", looked_up=len(records))
    return len(records)

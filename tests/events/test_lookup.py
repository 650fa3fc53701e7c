"""The CloudTrail LookupEvents fallback: paced, bounded, and never raising."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import botocore.exceptions

from auditor.engine.attribution import UNKNOWN_ACTOR
from auditor.events.lookup import RateLimiter, fill_in
from auditor.model import FixedClock
from auditor.settings import Settings
from auditor.store import CycleRecord, Store
from tests.events import cloudtrail as ct
from tests.store.builders import T0, instance, snapshot, tracked


def test_rate_limiter_paces_each_account_region_on_its_own() -> None:
    """2 requests/s per (account, region): the third call in one key waits 1 s, another key not."""
    now = [0.0]
    calls: list[tuple[str, float]] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = RateLimiter(2.0, monotonic=lambda: now[0], sleep=sleep)
    for key in ("a", "a", "a", "b"):
        limiter.acquire(key)
        calls.append((key, now[0]))
    assert calls == [("a", 0.0), ("a", 0.5), ("a", 1.0), ("b", 1.0)]


class FakeCloudTrail:
    def __init__(self, events: list[dict[str, Any]], fail: bool = False) -> None:
        self.events = events
        self.fail = fail
        self.calls: list[dict[str, Any]] = []

    def lookup_events(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(kw)
        if self.fail:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                "LookupEvents",
            )
        return {"Events": [{"CloudTrailEvent": json.dumps(e)} for e in self.events]}


class FakeSessions:
    def __init__(self, client: FakeCloudTrail) -> None:
        self._client = client

    def client(self, target: Any, service: str, region: str) -> FakeCloudTrail:
        assert service == "cloudtrail"
        return self._client


def _store(tmp_path: Path) -> tuple[Store, str]:
    store = Store.open(f"sqlite:///{tmp_path / 'a.db'}")
    r = instance(1)
    drift = tracked(r, first=T0, last=T0, cycles=1)
    drift = replace(
        drift,
        finding=replace(
            drift.finding,
            rule_id="drift.ec2_modified_in_place",
            evidence={"changed_by": dict(UNKNOWN_ACTOR)},
        ),
    )
    snap = snapshot("c1", (r,))
    store.commit_cycle(CycleRecord(snap, None, (drift,)))
    return store, r.arn


def test_fill_in_stores_the_latest_change_as_a_lookup(tmp_path: Path) -> None:
    store, arn = _store(tmp_path)
    change = ct.modify_instance_type("i-1", "t3.large", event_id="ev-lookup")
    read = {**ct.record("DescribeInstances", "ec2.amazonaws.com", {}, None), "readOnly": True}
    fake = FakeCloudTrail([read, change])
    settings = Settings(events={"queue_url": "https://sqs.us-east-1.amazonaws.com/1/q"})
    limiter = RateLimiter(2.0, sleep=lambda s: None)

    found = fill_in(settings, store, FakeSessions(fake), FixedClock(T0), limiter)  # type: ignore[arg-type]

    assert found == 1
    who = store.attributions([arn])[arn]
    assert (who.event_id, who.principal_arn, who.origin) == ("ev-lookup", ct.ALICE, "lookup")
    assert fake.calls[0]["EndTime"] == T0
    store.close()


def test_fill_in_never_raises_on_a_throttled_lookup(tmp_path: Path) -> None:
    store, arn = _store(tmp_path)
    settings = Settings(events={"queue_url": "https://sqs.us-east-1.amazonaws.com/1/q"})
    limiter = RateLimiter(2.0, sleep=lambda s: None)

    found = fill_in(
        settings, store, FakeSessions(FakeCloudTrail([], fail=True)), FixedClock(T0), limiter
    )  # type: ignore[arg-type]

    assert (found, store.attributions([arn])) == (0, {})
    store.close()

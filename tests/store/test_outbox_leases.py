"""Contract: the outbox never drops or duplicates an alert; a lease has one holder at a time."""

from __future__ import annotations

import threading
from datetime import timedelta

from auditor.store import CycleRecord, Store
from tests.store.builders import T0, message, snapshot


def test_enqueue_is_idempotent_and_pending_is_oldest_first(store: Store) -> None:
    """A key already present is ignored; pending lists unsent messages, oldest first."""
    outbox = store.outbox()
    later, earlier = message("b", T0 + timedelta(seconds=5)), message("a", T0)

    assert outbox.enqueue([later, earlier]) == 2
    assert outbox.enqueue([message("a", T0 + timedelta(hours=1)), message("c", T0)]) == 1

    assert [m.key for m in outbox.pending()] == ["a", "c", "b"]
    assert earlier == outbox.pending()[0]


def test_mark_sent_once_and_failures_counted(store: Store) -> None:
    """Marking sent twice keeps the first time; failures count attempts and keep the error."""
    outbox = store.outbox()
    outbox.enqueue([message("a"), message("b")])

    outbox.mark_sent("a", T0 + timedelta(minutes=1))
    outbox.mark_sent("a", T0 + timedelta(minutes=9))
    outbox.mark_failed("b", "429 rate limited", T0)
    outbox.mark_failed("b", "timeout", T0 + timedelta(minutes=1))

    assert {"a"} == outbox.sent_keys(["a", "b", "zzz"])
    (pending,) = outbox.pending()
    assert (
        pending.key,
        pending.attempts,
        pending.last_error,
        pending.sent_at,
    ) == ("b", 2, "timeout", None)
    assert outbox.enqueue([message("a")]) == 0  # sent and then re-planned: still not resent


def test_commit_cycle_enqueues_alerts_ignoring_known_keys(store: Store) -> None:
    """Alerts written with a cycle join the outbox; a key already queued stays as it was."""
    store.outbox().enqueue([message("a")])
    store.commit_cycle(
        CycleRecord(
            snapshot=snapshot("c1", ()),
            evaluation=None,
            tracked=(),
            outbox=(message("a", T0 + timedelta(hours=1)), message("b")),
        )
    )

    assert [message("a"), message("b")] == store.outbox().pending()


def test_lease_acquire_renew_expire_and_steal(store: Store) -> None:
    """Only one holder at a time; the holder renews; anyone may take an expired lease."""
    assert store.try_acquire_lease("leader", "r1", 60, T0)
    assert not store.try_acquire_lease("leader", "r2", 60, T0 + timedelta(seconds=30))
    assert store.try_acquire_lease("leader", "r1", 60, T0 + timedelta(seconds=30))  # renew
    assert not store.try_acquire_lease("leader", "r2", 60, T0 + timedelta(seconds=89))
    assert store.try_acquire_lease("leader", "r2", 60, T0 + timedelta(seconds=91))  # expired
    assert not store.try_acquire_lease("leader", "r1", 60, T0 + timedelta(seconds=92))
    assert store.try_acquire_lease("other", "r1", 60, T0)  # leases are independent


def test_released_lease_is_free_at_once(store: Store) -> None:
    """Releasing hands the lease over immediately; a non-holder's release changes nothing."""
    assert store.try_acquire_lease("leader", "r1", 60, T0)
    store.release_lease("leader", "r2")
    assert not store.try_acquire_lease("leader", "r2", 60, T0)
    store.release_lease("leader", "r1")
    assert store.try_acquire_lease("leader", "r2", 60, T0)


def test_concurrent_acquire_has_exactly_one_winner(store_url: str) -> None:
    """Replicas racing for the same free lease: exactly one gets it."""
    replicas = [Store.open(store_url, migrate=False) for _ in range(6)]
    Store.open(store_url).close()
    barrier = threading.Barrier(len(replicas))
    wins: list[str] = []

    def race(n: int, replica: Store) -> None:
        barrier.wait()
        if replica.try_acquire_lease("leader", f"r{n}", 60, T0):
            wins.append(f"r{n}")

    threads = [threading.Thread(target=race, args=(n, s)) for n, s in enumerate(replicas)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for replica in replicas:
        replica.close()

    assert len(wins) == 1

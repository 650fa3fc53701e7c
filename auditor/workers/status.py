"""`auditor workers status`: the workers connected to the broker, and the queue's depth.

Connected workers answer a broadcast ping (Celery remote control); queue depth is the
number of unit messages waiting in the queue; units in flight are the messages delivered
to a worker and not yet acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auditor.errors import AuditorError, ExitCode
from auditor.settings import ConfigError, Settings
from auditor.workers.app import make_app
from auditor.workers.redis_state import redis_client


class BrokerUnavailableError(AuditorError):
    """The broker does not answer (exit 3: nothing could be seen)."""

    exit_code = ExitCode.INCOMPLETE


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    name: str
    concurrency: int | None
    active: int
    processed: int


@dataclass(frozen=True, slots=True)
class WorkersStatus:
    queue: str
    queued: int
    in_flight: int
    workers: tuple[WorkerInfo, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "queued": self.queued,
            "in_flight": self.in_flight,
            "workers": [
                {
                    "name": w.name,
                    "concurrency": w.concurrency,
                    "active": w.active,
                    "processed": w.processed,
                }
                for w in self.workers
            ],
        }


def workers_status(settings: Settings, timeout: float = 1.0) -> WorkersStatus:
    config = settings.workers
    if not config.broker:
        raise ConfigError(f"{settings.source}: workers.broker is not set (redis://HOST:6379/0)")
    import redis

    client = redis_client(config)
    try:
        queued = 0
        for name in _queue_lists(config.queue):
            queued += int(client.llen(name))  # type: ignore[arg-type]
        in_flight = _in_flight(client, config.queue)
    except redis.RedisError as exc:
        raise BrokerUnavailableError(f"broker unavailable: {type(exc).__name__}") from None
    app = make_app(config)
    inspect = app.control.inspect(timeout=timeout)
    stats: dict[str, Any] = inspect.stats() or {}
    active: dict[str, Any] = inspect.active() or {}
    # every worker on the broker answers a broadcast: keep those consuming this queue
    queues: dict[str, Any] = inspect.active_queues() or {}
    ours = {n for n, qs in queues.items() if any(q.get("name") == config.queue for q in qs or ())}
    workers = []
    for name in sorted(n for n in stats if n in ours):
        info = stats[name]
        pool = info.get("pool") or {}
        total = info.get("total") or {}
        workers.append(
            WorkerInfo(
                name=name,
                concurrency=pool.get("max-concurrency"),
                active=len(active.get(name) or ()),
                processed=int(sum(total.values())) if isinstance(total, dict) else 0,
            )
        )
    return WorkersStatus(config.queue, queued, in_flight, tuple(workers))


def _queue_lists(queue: str) -> list[str]:
    """kombu's Redis transport keeps one list per priority step of a queue."""
    sep = "\x06\x16"
    return [queue, *(f"{queue}{sep}{p}" for p in range(1, 10))]


def _in_flight(client: Any, queue: str) -> int:
    """Delivered, unacknowledged messages of this queue (kombu's `unacked` hash)."""
    import json

    count = 0
    for _tag, raw in client.hscan_iter("unacked"):
        try:
            _message, _exchange, routing_key = json.loads(raw)
        except (ValueError, TypeError):
            continue
        if routing_key == queue:
            count += 1
    return count

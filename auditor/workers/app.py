"""The Celery application, configured from `workers:` the same way on leader and workers.

Reliability settings, and why:
- acks_late + task_reject_on_worker_lost: a message is acknowledged after its unit ran, so
  a worker that dies mid-unit leaves it to be delivered again (its row decides whether it
  still needs running: see store/work_units.py);
- prefetch multiplier 1: a worker reserves no more units than it runs, so a slow or dead
  worker does not sit on units others could take;
- visibility timeout above the unit deadline: Redis never hands a unit that is still
  running (within its deadline) to a second worker;
- short publish retries and connection timeouts: a stopped broker is an error the leader
  reports within seconds, not a hang;
- no result backend: completion is tracked in PostgreSQL rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery

from auditor.settings import WorkersConfig

TASK_NAME = "auditor.collect_unit"
BROKER_TIMEOUT_SECONDS = 3.0

Handler = Callable[[dict[str, Any]], None]


def visibility_timeout(config: WorkersConfig) -> int:
    """Longer than any unit may legitimately run (its deadline), with room to spare."""
    return 2 * config.unit_timeout_seconds + 60


def make_app(config: WorkersConfig, handler: Handler | None = None) -> Celery:
    """The app; with `handler`, the collection task is registered (on workers)."""
    if not config.broker:
        raise ValueError("workers.broker is not set")
    app = Celery("auditor", broker=config.broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=config.queue,
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={
            "visibility_timeout": visibility_timeout(config),
            "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
            "socket_timeout": 30,
        },
        broker_connection_timeout=BROKER_TIMEOUT_SECONDS,
        broker_connection_retry_on_startup=True,
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        worker_enable_remote_control=True,  # `auditor workers status` pings workers
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    if handler is not None:
        app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True)(
            handler
        )
    return app

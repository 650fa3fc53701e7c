"""`auditor worker` (a distributed collection worker) and `auditor workers status`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

WORKER_DESCRIPTION = """\
Run a distributed collection worker: a Celery worker on workers.broker (Redis) that takes
(account, region, service) units from workers.queue, collects them with up to
--concurrency units at once, and writes each result to the shared PostgreSQL store.
SIGTERM or SIGINT stops it after its running units (warm shutdown). Needs store:
postgresql+psycopg://... (exit 2 with a SQLite store). See docs/scaling.md.

example:
  AUDITOR_WORKERS__BROKER=redis://redis:6379/0 auditor worker --config auditor.yaml --concurrency 8
"""

STATUS_DESCRIPTION = """\
Show the workers consuming workers.queue on workers.broker (name, concurrency, units running, units
done) and the depth of workers.queue (units waiting, units delivered and not yet
acknowledged). Exit 3 when the broker does not answer.

example:
  auditor workers status --config auditor.yaml --json
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "worker",
        help="run a distributed collection worker",
        description=WORKER_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, default=None, help="config file (default ./auditor.yaml)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="units at once in this process (default workers.concurrency)",
    )
    p.set_defaults(handler=handle_worker)

    w = sub.add_parser(
        "workers",
        help="distributed workers: status",
        description=STATUS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    wsub = w.add_subparsers(dest="workers_command", metavar="COMMAND", required=True)
    s = wsub.add_parser(
        "status",
        help="connected workers and queue depth",
        description=STATUS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--config", type=Path, default=None, help="config file (default ./auditor.yaml)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(handler=handle_status)


def handle_worker(args: argparse.Namespace) -> int:
    from auditor.settings import load_settings
    from auditor.workers.process import serve

    if args.concurrency is not None and args.concurrency < 1:
        from auditor.settings import ConfigError

        raise ConfigError("--concurrency: must be at least 1")
    return serve(load_settings(args.config), args.concurrency)


def handle_status(args: argparse.Namespace) -> int:
    from auditor.settings import load_settings
    from auditor.workers.status import workers_status

    status = workers_status(load_settings(args.config))
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
        return 0
    print(f"queue {status.queue}: {status.queued} waiting, {status.in_flight} in flight")
    if not status.workers:
        print("no worker connected")
    for w in status.workers:
        print(f"  {w.name}  concurrency={w.concurrency}  running={w.active}  done={w.processed}")
    return 0

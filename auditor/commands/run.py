"""`auditor run`: the daemon."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """\
Run the daemon: audit cycles on the configured schedule (default every 15 minutes), one
leader among replicas sharing a PostgreSQL store, /healthz /readyz /metrics on
metrics.listen (default 127.0.0.1:9464). SIGTERM or SIGINT stops it cleanly.

Exits 0 after SIGTERM/SIGINT (a running cycle gets schedule.shutdown_grace_seconds to
finish), 2 for a bad config or a store that cannot be opened. See docs/operations.md.

example:
  AUDITOR_STORE=postgresql+psycopg://auditor@db/auditor auditor run --config auditor.yaml
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run the daemon",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, default=None, help="config file (default ./auditor.yaml)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from auditor.daemon import run
    from auditor.settings import load_settings

    return run(load_settings(args.config))

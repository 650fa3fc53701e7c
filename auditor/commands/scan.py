"""`auditor scan`: run one cycle now."""

from __future__ import annotations

import argparse
from pathlib import Path

from auditor.model import Severity

DESCRIPTION = """\
Run one audit cycle now: collect, evaluate, store findings, write the signed report,
send alerts and plan remediation (as configured), then print a summary.

example:
  AWS_PROFILE=audit auditor scan --config auditor.yaml --fail-on critical
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "scan",
        help="run one cycle now",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, default=None, help="config file (default ./auditor.yaml)")
    p.add_argument(
        "--fail-on",
        choices=[s.value for s in Severity],
        default=Severity.HIGH.value,
        help="exit 1 when a failing finding is at or above this severity (default: high)",
    )
    p.add_argument("--no-report", action="store_true", help="do not write a report bundle")
    p.add_argument("--no-alerts", action="store_true", help="do not send Slack alerts")
    p.add_argument(
        "--full-report",
        action="store_true",
        help="write a full report bundle even if nothing changed since the latest report "
        "(otherwise such a cycle appends a small signed attestation to the chain)",
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from auditor.commands.summary import live_progress, print_summary
    from auditor.pipeline import CycleOptions, run_cycle
    from auditor.settings import load_settings

    settings = load_settings(args.config)
    fail_on = Severity(args.fail_on)
    units: int | None = None  # unknown until discovery (Organizations, `regions: all`)
    if settings.organization is None and isinstance(settings.regions, tuple):
        accounts, regions = max(1, len(settings.accounts)), max(1, len(settings.regions))
        units = accounts * regions * len(settings.services)
    with live_progress(units) as progress:
        result = run_cycle(
            settings,
            options=CycleOptions(
                fail_on=fail_on,
                write_report=not args.no_report,
                send_alerts=not args.no_alerts,
                progress=progress,
                full_report=args.full_report,
            ),
        )
    print_summary(result)
    return int(result.exit_code(fail_on))

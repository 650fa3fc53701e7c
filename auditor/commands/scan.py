"""`auditor scan`: run one cycle now."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.model import Finding, Kind, Service, Severity
from auditor.report.formats import FORMATS

if TYPE_CHECKING:
    from auditor.pipeline import CycleResult
    from auditor.settings import Settings


DESCRIPTION = """\
Run one audit cycle now: collect, evaluate, store findings, write the signed report,
send alerts and plan remediation (as configured), then print a summary.

--account, --region, --service and --rule narrow this run only (repeatable; the config
file is not changed). Findings outside the narrowed scope are left as they are: a narrow
run never resolves what it did not look at.

examples:
  AWS_PROFILE=audit auditor scan --config auditor.yaml --fail-on critical
  auditor scan --region eu-west-1 --service ecs --rule 'ecs.*' --json | jq .exit_code
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
    p.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="ID",
        help="only this account, this run (repeatable)",
    )
    p.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="REGION",
        help="only this region, this run (repeatable)",
    )
    p.add_argument(
        "--service",
        action="append",
        default=[],
        choices=[s.value for s in Service],
        help="only this service, this run (repeatable)",
    )
    p.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="RULE_ID",
        help="only this rule id or glob, e.g. 'ecs.*', this run (repeatable)",
    )
    p.add_argument(
        "--severity",
        choices=[s.value for s in Severity],
        default=None,
        help="show only findings at or above this severity in the summary",
    )
    p.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the report bundle here instead of reports.dir",
    )
    p.add_argument(
        "--format",
        action="append",
        default=[],
        choices=tuple(FORMATS),
        dest="formats",
        help="report formats to write (repeatable; default: reports.formats)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress and no summary")
    p.add_argument(
        "--json",
        action="store_true",
        help="print a machine-readable summary on stdout (logs stay on stderr)",
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


def scoped(settings: Settings, args: argparse.Namespace) -> Settings:
    """The configuration narrowed by this run's flags (the file is not changed)."""
    from auditor.settings import ConfigError

    update: dict[str, Any] = {}
    if args.account:
        wanted = tuple(dict.fromkeys(args.account))
        if settings.organization is not None:
            org = settings.organization.model_copy(update={"include": wanted})
            update["organization"] = org
        elif settings.accounts:
            known = {a.id: a for a in settings.accounts}
            unknown = [a for a in wanted if a not in known]
            if unknown:
                raise ConfigError(
                    f"--account {', '.join(unknown)}: not in accounts: of "
                    f"{settings.source} (configured: {', '.join(known)})"
                )
            update["accounts"] = tuple(known[a] for a in wanted)
        else:
            raise ConfigError(
                "--account needs `accounts:` or `organization:` in the config: without them "
                "auditor audits the one account the ambient credentials belong to"
            )
    if args.region:
        update["regions"] = tuple(dict.fromkeys(args.region))
    if args.service:
        update["services"] = tuple(Service(s) for s in dict.fromkeys(args.service))
    if args.rule:
        update["rules"] = settings.rules.model_copy(update={"only": tuple(args.rule)})
    reports: dict[str, Any] = {}
    if args.output_dir is not None:
        reports["dir"] = args.output_dir
    if args.formats:
        reports["formats"] = tuple(dict.fromkeys(args.formats))
    if reports:
        update["reports"] = settings.reports.model_copy(update=reports)
    return settings.model_copy(update=update) if update else settings


def narrowed_to(args: argparse.Namespace) -> Callable[[Finding], bool] | None:
    """What a narrowed run judges: a finding outside its accounts, regions, services or rules
    was not looked at, so it must not be resolved (None: the run is not narrowed)."""
    import fnmatch

    accounts, regions = set(args.account), set(args.region)
    services = {Service(s) for s in args.service}
    rules: list[str] = list(args.rule)
    if not (accounts or regions or services or rules):
        return None

    def looked_at(finding: Finding) -> bool:
        res = finding.resource
        return (
            (not accounts or res.account in accounts)
            and (not regions or res.region in regions)
            and (not services or (isinstance(res.kind, Kind) and res.kind.service in services))
            and (not rules or any(fnmatch.fnmatchcase(finding.rule_id, p) for p in rules))
        )

    return looked_at


def summary_json(result: CycleResult, fail_on: Severity) -> dict[str, Any]:
    """What `--json` prints: the counts of the cycle, its gaps, its report and exit code."""
    snap = result.snapshot
    return {
        "cycle_id": result.cycle_id,
        "exit_code": int(result.exit_code(fail_on)),
        "fail_on": fail_on.value,
        "coverage_complete": snap.complete,
        "gaps": [
            {
                "account": g.account,
                "region": g.region,
                "service": g.service.value,
                "operation": g.operation,
                "error": g.error_code,
                "resource": g.resource_arn,
            }
            for g in snap.gaps
        ],
        "scope": {
            "accounts": list(snap.scope.accounts),
            "regions": list(snap.scope.regions),
            "services": [s.value for s in snap.scope.services],
        },
        "report_dir": str(result.report_dir.resolve()) if result.report_dir else None,
        "duration_seconds": round(result.duration_seconds, 3),
        **{k: v for k, v in result.counts.items() if k != "resources_by_kind"},
        "resources_by_kind": dict(result.counts.get("resources_by_kind", {})),
    }


def handle(args: argparse.Namespace) -> int:
    from auditor.settings import load_settings

    settings = scoped(load_settings(args.config), args)  # bad config: before heavy imports

    from auditor.commands.summary import live_progress, print_summary
    from auditor.pipeline import CycleOptions, run_cycle

    fail_on = Severity(args.fail_on)
    units: int | None = None  # unknown until discovery (Organizations, `regions: all`)
    if settings.organization is None and isinstance(settings.regions, tuple):
        accounts, regions = max(1, len(settings.accounts)), max(1, len(settings.regions))
        units = accounts * regions * len(settings.services)
    quiet = args.quiet or args.json
    with live_progress(None if quiet else units, enabled=not quiet) as progress:
        result = run_cycle(
            settings,
            options=CycleOptions(
                fail_on=fail_on,
                write_report=not args.no_report,
                send_alerts=not args.no_alerts,
                progress=progress,
                # asking for formats or a directory is asking for a report, not an attestation
                full_report=args.full_report or bool(args.formats) or args.output_dir is not None,
                looked_at=narrowed_to(args),
            ),
        )
    if args.json:
        json.dump(summary_json(result, fail_on), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    elif not args.quiet:
        min_severity = Severity(args.severity) if args.severity else None
        print_summary(result, min_severity=min_severity)
    return int(result.exit_code(fail_on))

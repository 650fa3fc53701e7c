"""`auditor reports list|get ID` and `auditor report [--since DATE]`."""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LIST_DESCRIPTION = """\
List the report bundles (local reports.dir, or S3 when reports.s3.bucket is set) and fetch one.

examples:
  auditor reports list
  auditor reports list --source local --json
  auditor reports get 20261122T120000Z-1a2b3c4d --out ./audit-2026-11
"""

REPORT_DESCRIPTION = """\
Write a signed report bundle now from the latest stored cycle (no new collection).
--since DATE makes the delta (new / resolved findings) and the trend start at DATE.

example:
  auditor report --since 2026-11-01
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "reports",
        help="list and fetch report bundles",
        description=LIST_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rs = p.add_subparsers(dest="reports_command", metavar="ACTION", required=True)
    ls = rs.add_parser(
        "list",
        help="list report bundles",
        description=LIST_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(ls)
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(handler=list_reports)
    get = rs.add_parser(
        "get",
        help="fetch one bundle",
        description=LIST_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(get)
    get.add_argument("report_id", metavar="ID")
    get.add_argument("--out", type=Path, default=None, help="copy/download into this directory")
    get.set_defaults(handler=get_report)

    r = sub.add_parser(
        "report",
        help="write a signed report now",
        description=REPORT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("--config", type=Path, default=None, help="config file (default ./auditor.yaml)")
    r.add_argument("--since", type=_date, default=None, help="YYYY-MM-DD or ISO 8601 datetime")
    r.set_defaults(handler=make_report)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None, help="config file (default ./auditor.yaml)")
    p.add_argument(
        "--source",
        choices=("auto", "local", "s3"),
        default="auto",
        help="auto: S3 when reports.s3.bucket is set, else reports.dir",
    )


def _date(text: str) -> datetime:
    from auditor.model import parse_iso

    try:
        return parse_iso(text if "T" in text else f"{text}T00:00:00+00:00").astimezone(UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or ISO 8601, got {text!r}") from None


def _store(args: argparse.Namespace) -> Any:
    from auditor.aws import AwsSessions
    from auditor.model import SystemClock
    from auditor.report.aws_clients import s3_store
    from auditor.report.errors import StorageError
    from auditor.report.storage import LocalReportStore
    from auditor.settings import load_settings

    settings = load_settings(args.config)
    if args.source == "local" or (args.source == "auto" and not settings.reports.s3.bucket):
        return LocalReportStore(Path(settings.reports.dir))
    store = s3_store(settings, AwsSessions(), SystemClock())
    if store is None:
        raise StorageError("--source s3: reports.s3.bucket is not set")
    return store


def list_reports(args: argparse.Namespace) -> int:
    items = _store(args).list()
    if args.json:
        print(json.dumps([asdict(i) for i in items], indent=2))
        return 0
    if not items:
        print("no reports")
    for i in items:
        score = "n/a" if i.score is None else f"{i.score * 100:.1f}%"
        state = "" if i.complete else "  INCOMPLETE (no signature)"
        coverage = "" if i.coverage_complete is not False else "  coverage: INCOMPLETE"
        print(
            f"{i.report_id}  #{i.sequence}  {i.generated_at}  score {score}  "
            f"failed {i.failed}  unknown {i.unknown}{coverage}{state}"
        )
    return 0


def get_report(args: argparse.Namespace) -> int:
    from auditor.report.storage import LocalReportStore

    store = _store(args)
    if isinstance(store, LocalReportStore):
        path = store.get(args.report_id)
        if args.out is not None:
            target = Path(args.out) / args.report_id
            shutil.copytree(path, target)
            path = target
    else:
        path = store.get(args.report_id, Path(args.out or "."))
    print(path)
    return 0


def make_report(args: argparse.Namespace) -> int:
    from auditor.model import SystemClock
    from auditor.pipeline import publish_on_demand
    from auditor.settings import load_settings
    from auditor.store import Store

    settings = load_settings(args.config)
    store = Store.open(settings.store)
    try:
        published = publish_on_demand(settings, store, SystemClock(), since=args.since)
    finally:
        store.close()
    print(f"report {published.bundle.report_id} written to {published.bundle.path}")
    if published.s3_url:
        print(
            f"uploaded to {published.s3_url} "
            f"(Object Lock: {settings.reports.s3.object_lock_days} days)"
        )
    return 0

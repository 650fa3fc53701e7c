"""findings.csv: one row per finding, and one row per collection gap.

Coverage is made visible without breaking CSV readers: the first column, `record`, is
`finding` or `gap`. A gap row names the account, region, service and error; the rules that
needed what it hid appear as findings with status `unknown`. No comment lines, so Excel,
pandas and csvkit all read the file as-is.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping

from auditor.model import JSON

COLUMNS = (
    "record",
    "report_id",
    "finding_id",
    "rule_id",
    "severity",
    "status",
    "account",
    "region",
    "kind",
    "resource_id",
    "resource_arn",
    "message",
    "first_seen",
    "last_seen",
    "new",
    "exemption_owner",
    "exemption_expires",
    "remediation_action",
    "remediation_status",
    "coverage_complete",
    "gap_service",
    "gap_operation",
    "gap_error",
    "evidence",
)


def csv_chunks(report: Mapping[str, JSON], rows_per_chunk: int = 2000) -> Iterator[str]:
    """findings.csv: one row per finding and per coverage gap, in chunks of rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    report_id = report["report_id"]
    complete = "true" if report["coverage"]["complete"] else "false"
    for gap in report["coverage"]["gaps"]:
        writer.writerow(
            _row(
                record="gap",
                report_id=report_id,
                status="unknown",
                account=gap["account"],
                region=gap["region"],
                kind=" ".join(gap["kinds"]),
                resource_arn=gap["resource_arn"] or "",
                message="Collection gap: could not be read; rules needing it are unknown",
                coverage_complete=complete,
                gap_service=gap["service"],
                gap_operation=gap["operation"],
                gap_error=gap["error"],
            )
        )
    encode = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
    for n, f in enumerate(report["findings"], 1):
        if n % rows_per_chunk == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        res = f["resource"]
        exemption = f["exemption"] or {}
        action = f["remediation"] or {}
        writer.writerow(
            _row(
                record="finding",
                report_id=report_id,
                finding_id=f["id"],
                rule_id=f["rule_id"],
                severity=f["severity"],
                status=f["status"],
                account=res["account"],
                region=res["region"],
                kind=res["kind"],
                resource_id=res["id"],
                resource_arn=res["arn"],
                message=f["message"],
                first_seen=f["first_seen"],
                last_seen=f["last_seen"],
                new="true" if f["new"] else "false",
                exemption_owner=exemption.get("owner", ""),
                exemption_expires=exemption.get("expires", ""),
                remediation_action=action.get("action", ""),
                remediation_status=action.get("status", ""),
                coverage_complete=complete,
                evidence=encode(f["evidence"]),
            )
        )
    yield buf.getvalue()


def _row(**values: str) -> list[str]:
    return [_safe(values.get(c, "")) for c in COLUMNS]


def _safe(text: str) -> str:
    """Neutralise spreadsheet formulas: a cell starting with = + - @ is prefixed with '."""
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text

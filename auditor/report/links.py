"""Where users open a report: links in alerts."""

from __future__ import annotations

from auditor.settings import ReportsConfig


def report_url(reports: ReportsConfig, report_id: str) -> str | None:
    """The HTML report's URL under `reports.base_url`; None without a base URL."""
    base = reports.base_url
    if base:
        return f"{base.rstrip('/')}/{report_id}/report.html"
    return None

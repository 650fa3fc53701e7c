"""The output formats of a report bundle, declared once.

Everything that knows the formats derives from `FORMATS`: the bundle writer (which file,
rendered how), the manifest's file list, the content types of S3 uploads and API downloads,
the allowed values of `reports.formats` in the config and the choices of `scan --format`.
Adding a format is a renderer module and one line here.

Renderers are imported when a bundle is written, not when this table is read: the config
validates against it, and must not pull in Jinja2 to do so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from auditor.model import JSON

# (the report document, {key_id, algorithm} of the signing key) -> text chunks of the file
Renderer = Callable[[Mapping[str, JSON], Mapping[str, str]], Iterable[str]]


@dataclass(frozen=True, slots=True)
class ReportFormat:
    """One output format: the file it writes, its content type and how it is rendered."""

    file: str
    content_type: str
    render: Renderer


def _json(report: Mapping[str, JSON], signing: Mapping[str, str]) -> Iterable[str]:
    from auditor.report.json_export import json_chunks

    return json_chunks(report)


def _html(report: Mapping[str, JSON], signing: Mapping[str, str]) -> Iterable[str]:
    from auditor.report.html import html_chunks

    return html_chunks(report, signing)


def _csv(report: Mapping[str, JSON], signing: Mapping[str, str]) -> Iterable[str]:
    from auditor.report.csv_export import csv_chunks

    return csv_chunks(report)


def _ocsf(report: Mapping[str, JSON], signing: Mapping[str, str]) -> Iterable[str]:
    from auditor.report.ocsf import ocsf_chunks

    return ocsf_chunks(report)


# In bundle order; `json` (report.json) is always written, whatever is configured.
FORMATS: Mapping[str, ReportFormat] = {
    "json": ReportFormat("report.json", "application/json", _json),
    "html": ReportFormat("report.html", "text/html; charset=utf-8", _html),
    "csv": ReportFormat("findings.csv", "text/csv; charset=utf-8", _csv),
    "ocsf": ReportFormat("findings.ocsf.json", "application/json", _ocsf),
}
ALWAYS = "json"


def chosen(names: Iterable[str]) -> tuple[str, ...]:
    """The formats to write for `names`, in bundle order, json first; ValueError naming an
    unknown one and the valid choices."""
    wanted = set(names)
    unknown = sorted(wanted - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown report format(s) {unknown} (valid: {', '.join(FORMATS)})")
    return tuple(name for name in FORMATS if name == ALWAYS or name in wanted)

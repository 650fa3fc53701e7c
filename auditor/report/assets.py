"""Where the data folders shipped with auditor live (templates, JSON Schema, rule packs)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """`auditor/_data/<name>` in an installed wheel, else the repo-root `<name>/` (editable)."""
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name


def reports_dir() -> Path:
    """The Jinja2 templates and `report.schema.json`."""
    return data_dir("reports")

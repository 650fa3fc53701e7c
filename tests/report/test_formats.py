"""The FORMATS table is the one list of output formats: bundle, manifest, config, CLI, S3/API."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from auditor.commands.scan import register
from auditor.errors import ExitCode
from auditor.report.bundle import write_bundle
from auditor.report.errors import ReportError
from auditor.report.formats import FORMATS
from auditor.report.signing import Ed25519Signer
from auditor.report.storage import CONTENT_TYPES
from auditor.settings import ConfigError, load_settings
from tests.report.factory import make_input


def test_a_bundle_with_every_format_lists_each_formats_file(
    tmp_path: Path, signer: Ed25519Signer
) -> None:
    """Every format in the table is written, listed in the manifest and has a content type."""
    info = write_bundle(make_input(2), tmp_path, signer, tuple(FORMATS))
    manifest = json.loads((info.path / "manifest.json").read_bytes())
    assert sorted(f.file for f in FORMATS.values()) == [f["name"] for f in manifest["files"]]
    assert all(CONTENT_TYPES[f.file] == f.content_type for f in FORMATS.values())


def test_report_json_is_always_written(tmp_path: Path, signer: Ed25519Signer) -> None:
    """Asking for csv alone still writes report.json, which the manifest's summary reads."""
    info = write_bundle(make_input(2), tmp_path, signer, ("csv",))
    assert ["findings.csv", "manifest.json", "manifest.sig", "report.json"] == sorted(info.files)


def test_an_unknown_format_is_refused_not_written_as_another(
    tmp_path: Path, signer: Ed25519Signer
) -> None:
    """A format missing from the table is an error naming the valid ones, and nothing is written."""
    with pytest.raises(
        ReportError, match=r"unknown report format\(s\) \['pdf'\] \(valid: json, html, csv, ocsf\)"
    ):
        write_bundle(make_input(2), tmp_path / "out", signer, ("json", "pdf"))
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_config_and_scan_accept_exactly_the_tables_formats(tmp_path: Path) -> None:
    """`reports.formats` names the file and line of an unknown format; `--format` offers the table."""
    path = tmp_path / "auditor.yaml"
    path.write_text("reports:\n  formats: [json, pdf]\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == (
        f"{path}:2: reports.formats: Value error, unknown format 'pdf' (valid: json, html, csv, ocsf)"
    )
    assert info.value.exit_code is ExitCode.BAD_INPUT
    sub = argparse.ArgumentParser().add_subparsers()
    register(sub)
    scan = sub.choices["scan"]
    action = next(a for a in scan._actions if a.dest == "formats")
    assert tuple(FORMATS) == tuple(action.choices or ())

"""`reports.dir` is checked before a cycle commits: a bad path is a config error, not a
committed cycle without its report."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.report.errors import StorageError
from auditor.report.storage import check_report_dir


def test_a_file_in_place_of_the_directory_is_refused(tmp_path: Path) -> None:
    """reports.dir pointing at a file, or below one, is refused by name."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match="exists and is not a directory"):
        check_report_dir(tmp_path / "file")
    with pytest.raises(StorageError, match="is not a directory"):
        check_report_dir(tmp_path / "file" / "reports")


def test_a_directory_to_be_created_is_accepted_and_not_created(tmp_path: Path) -> None:
    """The check writes nothing: the directory is created when the first bundle is."""
    check_report_dir(tmp_path / "a" / "b")
    check_report_dir(tmp_path)
    assert not (tmp_path / "a").exists()

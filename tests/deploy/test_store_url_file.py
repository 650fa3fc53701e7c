"""`store_url_file`: the database URL (and its password) comes from a mounted file, and a bad
file is a config error that never echoes what the file holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.settings import ConfigError, load_settings


def config(tmp_path: Path, url_file: Path) -> Path:
    path = tmp_path / "auditor.yaml"
    path.write_text(f"store_url_file: {url_file}\n", encoding="utf-8")
    return path


def test_store_url_comes_from_the_file(tmp_path: Path) -> None:
    """The file wins over the default store, trailing newline stripped."""
    url = tmp_path / "store-url"
    url.write_text("postgresql+psycopg://auditor:hunter2@db/auditor\n", encoding="utf-8")
    assert (
        "postgresql+psycopg://auditor:hunter2@db/auditor"
        == load_settings(config(tmp_path, url)).store
    )


def test_a_file_without_a_store_url_is_refused_without_echoing_it(tmp_path: Path) -> None:
    """A wrong file (e.g. the password alone) is exit-2 material and its content stays secret."""
    url = tmp_path / "store-url"
    url.write_text("hunter2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config(tmp_path, url))
    assert "store_url_file" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    """A Secret that was not mounted says which path was expected."""
    with pytest.raises(ConfigError, match="store_url_file: cannot read .*store-url"):
        load_settings(config(tmp_path, tmp_path / "store-url"))

"""docs/promises.md maps each documented promise to the tests that prove it; this keeps the
map from rotting: every test it names must exist (the file, and a test function of that
name in it), so renaming or deleting a proving test fails here instead of leaving a
promise silently unproven."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMISES = ROOT / "docs" / "promises.md"
NODE_ID = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _proven_rows() -> list[tuple[str, list[tuple[str, str]]]]:
    """(promise, [(file, test name), ...]) for each row of the "Proven" table."""
    text = PROMISES.read_text(encoding="utf-8")
    section = text.split("## Proven", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].isdigit():
            continue
        rows.append((cells[1], NODE_ID.findall(cells[3])))
    return rows


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_every_named_test_exists() -> None:
    """Each node id in the table names an existing file that defines that test function."""
    missing = []
    cache: dict[str, set[str]] = {}
    for promise, ids in _proven_rows():
        for file, name in ids:
            path = ROOT / file
            if not path.is_file():
                missing.append(f"{file}::{name} (no such file) for: {promise}")
                continue
            if file not in cache:
                cache[file] = _test_functions(path)
            if name not in cache[file]:
                missing.append(f"{file}::{name} (no such test) for: {promise}")
    assert missing == []


def test_every_proven_row_names_at_least_one_test() -> None:
    """A row in the "Proven" table without a test belongs under "Not yet proven"."""
    rows = _proven_rows()
    assert len(rows) >= 60
    assert [promise for promise, ids in rows if not ids] == []


def test_the_parser_sees_every_table_row() -> None:
    """A malformed row (a stray `|` in a cell) would silently escape the checks above."""
    section = PROMISES.read_text(encoding="utf-8").split("## Proven", 1)[1].split("\n## ", 1)[0]
    table_rows = [ln for ln in section.splitlines() if re.match(r"\|\s*\d+\s*\|", ln)]
    assert len(table_rows) == len(_proven_rows())

"""The detector agrees with every label of the corpus, at the line or variable that holds it."""

from __future__ import annotations

import pytest

from auditor.secrets import scan_assignment, scan_text
from tests.secrets_corpus import Case, found, load_cases

CASES = load_cases()


def test_corpus_is_big_and_balanced_enough() -> None:
    """>= 80 cases, >= 30 with and >= 30 without a secret, both families, Linux and Windows."""
    assert len(CASES) >= 80
    assert sum(c.secret for c in CASES) >= 30
    assert sum(not c.secret for c in CASES) >= 30
    assert {(c.family, c.platform) for c in CASES} == {
        (f, p) for f in ("userdata", "environments") for p in ("linux", "windows")
    }
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_detector_matches_label(case: Case) -> None:
    """Secret cases are found where the label says; clean cases produce no hit at all."""
    lines, names = found(case, scan_text, scan_assignment)
    if case.family == "userdata":
        assert sorted(lines) == sorted(case.lines)
    else:
        assert sorted(names) == sorted(case.names)

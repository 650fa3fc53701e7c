"""The suite cannot pass in CI with a skipped test (tests/ci_no_skip.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]

SKIPPING = """
import pytest

@pytest.mark.skip(reason="chromium missing")
def test_needs_a_browser():
    pass

def test_runs():
    pass
"""


def test_a_skip_fails_the_run_in_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With CI=true the skipped test counts as a failure and the run's exit code is non-zero."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makepyfile(SKIPPING)
    result = pytester.runpytest_subprocess("-p", "tests.ci_no_skip", "-p", "no:cacheprovider")
    assert 0 != result.ret
    assert "skipped in CI, which must run every test" in result.stdout.str()
    outcomes = result.parseoutcomes()
    assert 1 == outcomes.get("passed")
    assert 0 == outcomes.get("skipped", 0)


def test_a_skip_is_a_skip_outside_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a developer's machine without Chromium the browser tests skip, as before."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makepyfile(SKIPPING)
    result = pytester.runpytest_subprocess("-p", "tests.ci_no_skip", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=1)

"""report.html in a real headless Chromium: it renders offline, its numbers match report.json,
and the findings filter works. A screenshot is kept under test-artifacts/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.report.bundle import write_bundle
from auditor.report.signing import Ed25519Signer
from tests.report.factory import make_input

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian chromium not installed at /usr/bin/chromium (apt-get install -y chromium)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


def test_summary_numbers_rendered_match_report_json(
    browser: Any, tmp_path: Path, signer: Ed25519Signer
) -> None:
    """What a compliance officer reads on screen is what the signed JSON says, offline."""
    info = write_bundle(make_input(60, with_gap=True), tmp_path, signer)
    report = json.loads((info.path / "report.json").read_bytes())
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((info.path / "report.html").as_uri())

    summary = report["summary"]
    expected = {
        "#sum-evaluated": str(summary["evaluated"]),
        "#sum-passed": str(summary["passed"]),
        "#sum-failed": str(summary["failed"]),
        "#sum-unknown": str(summary["unknown"]),
        "#sum-exempt": str(summary["exempt"]),
        "#sum-score": f"{summary['score'] * 100:.1f}%",
        "#sev-high": str(summary["by_severity"]["high"]),
        "#sev-critical": str(summary["by_severity"]["critical"]),
        "#report-id": report["report_id"],
    }
    rendered = {sel: page.inner_text(sel).strip() for sel in expected}
    assert expected == rendered
    assert "false" == page.get_attribute("#coverage-status", "data-complete")
    assert page.is_visible("#gaps")
    assert page.is_visible("svg[aria-label='compliance score trend']")
    assert [] == errors
    assert [(info.path / "report.html").as_uri()] == requests  # no external asset

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-summary.png"), full_page=False)

    page.select_option("#fstatus", "unknown")
    page.wait_for_function("document.getElementById('fcount').textContent === '1 shown'")
    visible_rows = page.locator("details.g:not(.hidden) tbody tr:not(.hidden)").count()
    assert 1 == visible_rows
    page.select_option("#fstatus", "")
    page.fill("#ftext", "i-00000000000000003")
    page.wait_for_function("document.getElementById('fcount').textContent === '1 shown'")
    page.close()


def test_50000_findings_stay_usable(browser: Any, tmp_path: Path, signer: Ed25519Signer) -> None:
    """With 50,000 findings the page loads, and a search finds a row deep in a collapsed
    block and shows it (its block opens by itself), within Playwright's default timeouts."""
    n = 50_000
    info = write_bundle(make_input(n), tmp_path, signer, formats=("json", "html"))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto((info.path / "report.html").as_uri())
    assert ("45000", "5000") == (  # every tenth finding of the factory is exempt
        page.inner_text("#sum-failed").strip(),
        page.inner_text("#sum-exempt").strip(),
    )
    last = f"i-{n - 1:017x}"
    page.fill("#ftext", last)
    page.wait_for_function("document.getElementById('fcount').textContent === '1 shown'")
    row = page.locator("tr:not(.hidden)", has_text=last)
    assert 1 == row.count()
    assert row.is_visible()
    page.close()

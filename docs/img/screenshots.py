"""Screenshots of the web app on the demo data, from the real app in Debian's chromium.

    .venv/bin/python docs/img/screenshots.py [OUT_DIR]

Runs `auditor demo --serve` (embedded moto, two cycles), reads the printed URL and viewer
token, logs in and saves overview.png, findings.png and resource.png next to this file.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    from playwright.sync_api import sync_playwright

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", "demo", "--serve", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    url = token = ""
    for line in proc.stdout:
        if m := re.search(r"URL:\s+(\S+)", line):
            url = m.group(1).rstrip("/")
        if m := re.search(r"viewer token:\s+(\S+)", line):
            token = m.group(1)
            break
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900}, base_url=url)
            page.goto("/login")
            page.fill("input[name=token]", token)
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/")
            page.screenshot(path=HERE / "overview.png", full_page=False)
            page.goto("/findings?severity=high&sort=-first_seen")
            page.screenshot(path=HERE / "findings.png", full_page=False)
            page.goto("/findings?q=drift.ec2_modified_in_place")
            page.locator("#findings tbody a").first.click()
            page.wait_for_selector("#arn")
            page.screenshot(path=HERE / "resource.png", full_page=False)
            browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()

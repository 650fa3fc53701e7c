"""The web app in a real headless Chromium (Debian's), against the real server process on
PostgreSQL: every role logs in and walks every page; the explorer's counts match the API; a
resource shows its diff; a downloaded report zip passes `auditor verify`; an exemption needs
a second person; an approved remediation is executed by the next enforce cycle (moto); a
viewer is refused every mutating endpoint. One browser for the whole module."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auditor.model import ActionStatus, FixedClock
from auditor.pipeline import CycleOptions, run_cycle
from auditor.settings import Settings
from tests.api.conftest import Server
from tests.api.test_endpoints import ENDPOINTS

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
PAGES = ("/", "/findings", "/reports", "/exemptions", "/approvals", "/audit")

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


class Session:
    """One logged-in browser context; collects console errors (CSP violations show there)."""

    def __init__(self, browser: Any, server: Server, who: str) -> None:
        self.server = server
        self.context = browser.new_context(base_url=server.url, accept_downloads=True)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on(
            "console", lambda m: self.console.append(m.text) if m.type == "error" else None
        )
        self.page.goto("/login")
        self.page.fill("input[name=token]", server.tokens[who])
        self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{server.url}/")

    def open(self, path: str) -> Any:
        response = self.page.goto(path)
        assert response is not None
        return response

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def login(browser: Any, server: Server) -> Iterator[Any]:
    sessions: list[Session] = []

    def make(who: str) -> Session:
        s = Session(browser, server, who)
        sessions.append(s)
        return s

    yield make
    for s in sessions:
        s.close()


@pytest.mark.parametrize("role", ["viewer", "auditor", "operator", "admin"])
def test_every_role_walks_every_page(login: Any, server: Server, role: str) -> None:
    """Each page renders for each role, names the caller, and breaks no CSP rule."""
    s = login(role)
    rid = server.seeded.bundles[0].report_id
    for path in (*PAGES, f"/reports/{rid}", f"/resource?arn={server.seeded.changed_arn}"):
        response = s.open(path)
        assert 200 == response.status, path
        assert role in s.page.inner_text("header .role")
        assert s.page.locator("h1").count() == 1
    assert [] == s.console
    can_export = s.page.goto("/findings") and s.page.locator("#export-csv").count() == 1
    assert can_export == (role != "viewer")


def test_filtered_findings_counts_match_the_api(login: Any, server: Server) -> None:
    s = login("viewer")
    s.open("/findings")
    s.page.fill("input[name=account]", "111111111111")
    s.page.select_option("select[name=severity]", "high")
    s.page.click("#filters button[type=submit]")
    s.page.wait_for_url("**/findings?*")
    shown = int(s.page.inner_text("#total"))
    with server.as_role("viewer") as c:
        api = c.get("/api/v1/findings", params={"account": "111111111111", "severity": "high"})
    assert api.json()["total"] == shown
    assert shown == s.page.locator("#findings tbody tr").count()
    assert shown > 0


def test_resource_page_shows_the_field_level_diff(login: Any, server: Server) -> None:
    s = login("viewer")
    s.open(f"/findings?q={server.seeded.changed_arn.rsplit('/', 1)[-1]}")
    s.page.locator("#findings tbody a").first.click()
    assert server.seeded.changed_arn == s.page.inner_text("#arn")
    row = s.page.locator("table.diff tr.changed").first
    assert ["attributes.InstanceType", "t3.micro", "t3.large"] == [
        c.strip() for c in row.locator("td").all_inner_texts()
    ]


def test_downloaded_report_zip_passes_auditor_verify(
    login: Any, server: Server, tmp_path: Path
) -> None:
    s = login("auditor")
    s.open("/reports")
    assert "valid" == s.page.locator("#reports td.verify span").first.inner_text()
    with s.page.expect_download() as info:
        s.page.locator("#reports a.zip").first.click()
    archive = tmp_path / "bundle.zip"
    info.value.save_as(archive)
    zipfile.ZipFile(archive).extractall(tmp_path / "out")
    (bundle,) = (tmp_path / "out").iterdir()
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "verify", str(bundle), "--key", str(server.public_key)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert 0 == done.returncode, done.stdout + done.stderr


def test_exemption_needs_a_second_person(login: Any, server: Server) -> None:
    """The requester cannot approve their own request; another operator can."""
    alice = login("operator")
    alice.open("/exemptions")
    alice.page.click("#request summary")
    alice.page.select_option("select[name=rule]", "ec2.imdsv2_required")
    alice.page.fill("input[name=resource]", "arn:aws:ec2:*:222222222222:instance/*")
    alice.page.fill("input[name=reason]", "legacy agents need IMDSv1 until March")
    alice.page.fill("input[name=owner]", "team-data")
    alice.page.click("#request button[type=submit]")
    assert "pending" in alice.page.inner_text(".flash")
    row = alice.page.locator("#exemptions tbody tr", has_text="legacy agents need IMDSv1")
    request_id = row.get_attribute("data-id")
    row.locator("button.approve").click()
    assert "four-eyes" in alice.page.inner_text("#error")

    bob = login("operator2")
    bob.open("/exemptions")
    bob.page.locator(f"#exemptions tr[data-id='{request_id}'] button.approve").click()
    status = bob.page.locator(f"#exemptions tr[data-id='{request_id}'] td.status")
    assert "approved" == status.inner_text()
    with server.as_role("viewer") as c:
        approved = c.get("/api/v1/exemptions", params={"status": "approved"}).json()["items"]
    assert [("operator", "operator2")] == [
        (e["requested_by"], e["decided_by"]) for e in approved if str(e["id"]) == request_id
    ]


def test_viewer_gets_403_on_every_mutating_endpoint(login: Any, server: Server) -> None:
    s = login("viewer")
    mutating = [path for method, path, _ in ENDPOINTS if method == "POST"]
    mutating += ["/exemptions", "/exemptions/1/approve", "/approvals/x/approve"]
    for path in mutating:
        response = s.context.request.post(path.format(aid="a" * 32), form={"x": "1"})
        assert 403 == response.status, path


@pytest.fixture
def web_group() -> Iterator[None]:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        ec2.create_launch_template(
            LaunchTemplateName="web",
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
        )
        boto3.client("autoscaling", region_name="us-east-1").create_auto_scaling_group(
            AutoScalingGroupName="web",
            LaunchTemplate={"LaunchTemplateName": "web", "Version": "1"},
            MinSize=1, MaxSize=6, DesiredCapacity=3, AvailabilityZones=["us-east-1a"],
        )  # fmt: skip
        yield


def test_approved_remediation_is_executed_by_the_next_enforce_cycle(
    login: Any, server: Server, web_group: None
) -> None:
    """Cycle 1 holds the action for approval (nothing terminated); an operator approves it
    in the browser; cycle 2 (enforce, moto) executes exactly that action."""
    cfg = Settings(
        regions=("us-east-1",),
        services=("ec2",),  # type: ignore[arg-type]
        store=server.store_url,
        remediation={  # type: ignore[arg-type]
            "mode": "enforce", "rules": ["ec2.max_age"], "require_approval": ["ec2.max_age"],
            "min_consecutive_cycles": 1, "max_percent_per_group": 34,
            "asg_strategy": "terminate-one",
        },
    )  # fmt: skip
    clock = FixedClock(datetime.now(UTC) + timedelta(days=40))
    quiet = CycleOptions(write_report=False, send_alerts=False)
    first = run_cycle(cfg, clock=clock, options=quiet)
    assert ActionStatus.EXECUTED not in {a.status for a in first.actions}
    (held,) = [a for a in first.actions if a.reason.startswith("awaiting approval")]

    ops = login("operator")
    ops.open("/approvals")
    ops.page.locator(f"#approvals tr[data-id='{held.id}'] button.approve").click()
    assert "approved" in ops.page.inner_text(f"#approvals tr[data-id='{held.id}'] td.decision")

    second = run_cycle(cfg, clock=FixedClock(clock.now() + timedelta(hours=1)), options=quiet)
    executed = [a for a in second.actions if a.status is ActionStatus.EXECUTED]
    assert [(held.target_arn, held.action)] == [(a.target_arn, a.action) for a in executed]
    assert "approved by operator" in executed[0].reason

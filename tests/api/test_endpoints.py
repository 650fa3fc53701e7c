"""Contract: every API endpoint, against the real server process on PostgreSQL, refuses
callers without a valid token or the right role, and answers the right ones correctly."""

from __future__ import annotations

import http.client
import io
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.api.conftest import Server

RID = "{rid}"
# (method, path, least role). {rid}, {aid}, {eid}, {arn} are filled in per test.
ENDPOINTS = [
    ("GET", "/api/v1/me", "viewer"),
    ("GET", "/api/v1/overview", "viewer"),
    ("GET", "/api/v1/findings", "viewer"),
    ("GET", "/api/v1/findings/export", "auditor"),
    ("GET", "/api/v1/findings/{fid}", "viewer"),
    ("GET", "/api/v1/resources?arn={arn}", "viewer"),
    ("GET", "/api/v1/reports", "viewer"),
    ("GET", "/api/v1/reports/{rid}", "viewer"),
    ("GET", "/api/v1/reports/{rid}/verify", "auditor"),
    ("GET", "/api/v1/reports/{rid}/zip", "auditor"),
    ("GET", "/api/v1/reports/{rid}/chain", "viewer"),
    ("GET", "/api/v1/reports/{rid}/files/report.json", "viewer"),
    ("GET", "/api/v1/exemptions", "viewer"),
    ("POST", "/api/v1/exemptions", "auditor"),
    ("POST", "/api/v1/exemptions/999/approve", "operator"),
    ("POST", "/api/v1/exemptions/999/reject", "operator"),
    ("GET", "/api/v1/approvals", "viewer"),
    ("POST", "/api/v1/approvals/{aid}x/approve", "operator"),
    ("POST", "/api/v1/approvals/{aid}x/reject", "operator"),
    ("GET", "/api/v1/audit", "viewer"),
    ("GET", "/api/v1/tokens", "admin"),
    ("POST", "/api/v1/tokens/nobody/revoke", "admin"),
]
ORDER = ("viewer", "auditor", "operator", "admin")
EXEMPTION = {
    "rule": "ec2.ssh_keypair_attached",
    "resource": "arn:aws:ec2:*:111111111111:instance/*",
    "reason": "bastion hosts, replaced by SSM in Q1",
    "owner": "team-web",
    "expires": "2099-01-01",
}


def _path(server: Server, template: str) -> str:
    s = server.seeded
    return template.format(
        rid=s.bundles[0].report_id,
        aid=s.awaiting_action_id,
        fid=s.findings[0].id,
        arn=s.changed_arn,
    )


def _call(server: Server, method: str, path: str, token: str | None) -> tuple[int, dict]:
    with server.client(token) as c:
        body = EXEMPTION if method == "POST" and path.endswith("/exemptions") else None
        resp = c.request(method, path, json=body)
    ctype = resp.headers.get("content-type", "")
    return resp.status_code, resp.json() if ctype.startswith("application/json") else {}


@pytest.mark.parametrize("who", ["none", "garbage", "expired", "revoked"])
def test_every_endpoint_refuses_an_invalid_token(server: Server, who: str) -> None:
    """No token, an unknown, an expired or a revoked one: 401 with a JSON error, everywhere."""
    token = {"none": None, "garbage": "aud_nope"}.get(who, server.tokens.get(who))
    for method, template, _ in ENDPOINTS:
        status, body = _call(server, method, _path(server, template), token)
        assert (401, True) == (status, "error" in body), (method, template)


def test_every_endpoint_refuses_a_role_below_its_own(server: Server) -> None:
    """A role below the endpoint's gets 403 (so a viewer gets 403 on every mutating one)."""
    for method, template, least in ENDPOINTS:
        for role in ORDER[: ORDER.index(least)]:
            status, body = _call(server, method, _path(server, template), server.tokens[role])
            assert 403 == status, (method, template, role)
            assert least in body["error"]


def test_every_endpoint_admits_its_role(server: Server) -> None:
    """The least role gets past authorisation (2xx, or a 404/409/422 about the input)."""
    for method, template, least in ENDPOINTS:
        status, _ = _call(server, method, _path(server, template), server.tokens[least])
        assert status in (200, 201, 404, 409, 422), (method, template, status)


def test_healthz_get_and_head_without_a_token(server: Server) -> None:
    with server.client() as c:
        assert (200, "ok\n") == (c.get("/healthz").status_code, c.get("/healthz").text)
        head = c.head("/healthz")
    assert (200, b"") == (head.status_code, head.content)


def _raw(server: Server, path: str, token: str) -> int:
    where = urlsplit(server.url)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/reports/..%2F..%2Fetc/files/passwd",
        "/api/v1/reports/{rid}/files/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/v1/reports/{rid}/files/%2e%2e",
        "/api/v1/reports/{rid}/files/..",
        "/api/v1/reports/../../../etc/passwd",
        "/api/v1/reports/{rid}/files/signing.key",
        "/api/v1/reports/{rid}/files/.%2Fmanifest.json",
        "/api/v1/reports/{rid}/files/report.json%00.html",
        "/api/v1/reports/{rid}/zip/../../../../etc/passwd",
        "/api/v1/reports/%2e%2e/zip",
        "/api/v1/reports/{rid}%2F..%2F..%2Fsigning.key/files/report.json",
        "/static/..%2F..%2F..%2Fsettings.py",
        "/static/../app.py",
    ],
)
def test_path_traversal_on_file_endpoints_finds_nothing(server: Server, path: str) -> None:
    """Encoded or raw `..`, NUL bytes, unlisted files: never outside the bundle (404/400)."""
    status = _raw(server, _path(server, path), server.tokens["admin"])
    assert status in (400, 404, 422), path


def test_filtered_findings_count_and_cursor_pages(server: Server) -> None:
    """Filters narrow the set, `total` counts it, and cursors walk it without repeats."""
    expected = [
        f for f in server.seeded.findings
        if f.resource.account == "111111111111" and f.severity.value == "high"
    ]  # fmt: skip
    seen: list[str] = []
    cursor = None
    with server.as_role("viewer") as c:
        while True:
            params = {"account": "111111111111", "severity": "high", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = c.get("/api/v1/findings", params=params).json()
            assert len(expected) == page["total"]
            seen += [f["id"] for f in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
    assert sorted(f.id for f in expected) == sorted(seen)


def test_free_text_control_and_owner_filters(server: Server) -> None:
    with server.as_role("viewer") as c:
        by_text = c.get("/api/v1/findings", params={"q": "MAX_AGE"}).json()
        by_owner = c.get("/api/v1/findings", params={"owner": "team-data"}).json()
        bad = c.get("/api/v1/findings", params={"cursor": "not-a-cursor"})
    assert by_text["total"] == sum(1 for f in server.seeded.findings if f.rule_id == "ec2.max_age")
    assert by_owner["total"] == sum(
        1 for f in server.seeded.findings if f.resource.tags.get("owner") == "team-data"
    )
    assert 400 == bad.status_code


def test_export_csv_matches_the_filter(server: Server) -> None:
    with server.as_role("auditor") as c:
        resp = c.get("/api/v1/findings/export", params={"severity": "low", "format": "csv"})
    lines = resp.text.strip().splitlines()
    expected = sum(1 for f in server.seeded.findings if f.severity.value == "low")
    assert (200, expected) == (resp.status_code, len(lines) - 1)


def test_resource_shows_the_field_level_diff(server: Server) -> None:
    with server.as_role("viewer") as c:
        detail = c.get("/api/v1/resources", params={"arn": server.seeded.changed_arn}).json()
    changes = detail["versions"][0]["changes"]
    assert [
        {"path": "attributes.InstanceType", "before": "t3.micro", "after": "t3.large",
         "change": "changed"}
    ] == changes  # fmt: skip
    assert detail["findings"]
    assert detail["findings"][0]["history"]


def test_report_zip_verifies_with_auditor_verify(server: Server, tmp_path: Path) -> None:
    """The zip's unpacked directory passes `auditor verify` with the trusted key."""
    rid = server.seeded.bundles[0].report_id
    with server.as_role("auditor") as c:
        resp = c.get(f"/api/v1/reports/{rid}/zip")
        verified = c.get(f"/api/v1/reports/{rid}/verify").json()
    assert ("valid", True) == (verified["state"], verified["trusted_key"])
    zipfile.ZipFile(io.BytesIO(resp.content)).extractall(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "verify", str(tmp_path / rid), "--key",
         str(server.public_key)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert 0 == done.returncode, done.stdout + done.stderr


def test_chain_goes_back_to_the_first_report(server: Server) -> None:
    newest = server.seeded.bundles[-1].report_id
    with server.as_role("viewer") as c:
        chain = c.get(f"/api/v1/reports/{newest}/chain").json()
    expected = [b.report_id for b in reversed(server.seeded.bundles)]
    assert (expected, True) == ([link["report_id"] for link in chain["links"]], chain["complete"])


def test_report_html_is_served_with_a_csp_that_runs_no_script(server: Server) -> None:
    rid = server.seeded.bundles[0].report_id
    with server.as_role("viewer") as c:
        resp = c.get(f"/api/v1/reports/{rid}/files/report.html")
    csp = resp.headers["content-security-policy"]
    assert 200 == resp.status_code
    assert "script-src 'none'" in csp
    assert "unsafe-inline" not in csp.split("style-src")[0]
    assert "frame-ancestors 'none'" in csp

"""Contract: the reports API serves exactly what is on disk, to valid token holders only."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from auditor.report.manifest import MANIFEST, SIGNATURE
from tests.api.conftest import Api

REPORTS = "/api/v1/reports"


def _raw_get(api: Api, path: str) -> tuple[int, bytes]:
    """Send `path` byte for byte (no client-side normalisation of `..`)."""
    where = urlsplit(api.url)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {api.token}"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_healthz_needs_no_token(api: Api) -> None:
    """Load balancers can probe /healthz without credentials."""
    with api.client() as c:
        resp = c.get("/healthz")
    assert (200, "ok\n") == (resp.status_code, resp.text)


@pytest.mark.parametrize("which", ["none", "bad", "expired", "revoked", "wrong-scheme"])
def test_api_refuses_callers_without_a_valid_token(api: Api, which: str) -> None:
    """No token, an unknown one, an expired one or a revoked one: 401 with a JSON error."""
    headers = {
        "none": {},
        "bad": {"Authorization": "Bearer aud_not-a-real-token"},
        "expired": {"Authorization": f"Bearer {api.expired}"},
        "revoked": {"Authorization": f"Bearer {api.revoked}"},
        "wrong-scheme": {"Authorization": f"Basic {api.token}"},
    }[which]
    rid = api.bundles[0].report_id
    with api.client() as c:
        for path in (REPORTS, f"{REPORTS}/{rid}", f"{REPORTS}/{rid}/files/report.json"):
            resp = c.get(path, headers=headers)
            assert 401 == resp.status_code
            assert "error" in resp.json()
            assert api.token not in resp.text


def test_list_is_newest_first_with_the_manifest_summaries(api: Api) -> None:
    """GET /api/v1/reports lists every bundle, newest first, with score and failed counts."""
    with api.client(api.token) as c:
        reports = c.get(REPORTS).json()["reports"]
    expected = []
    for b in reversed(api.bundles):
        summary = json.loads((b.path / MANIFEST).read_bytes())["summary"]
        expected.append(
            (b.report_id, summary["score"], summary["failed"], summary["coverage_complete"])
        )
    actual = [(r["report_id"], r["score"], r["failed"], r["coverage_complete"]) for r in reports]
    assert expected == actual
    assert [False, True] == [r["coverage_complete"] for r in reports]


def test_manifest_and_every_file_are_byte_identical_to_disk(api: Api) -> None:
    """The manifest endpoint and each listed file download return the stored bytes."""
    bundle = api.bundles[0]
    with api.client(api.token) as c:
        manifest = c.get(f"{REPORTS}/{bundle.report_id}")
        assert (bundle.path / MANIFEST).read_bytes() == manifest.content
        assert "application/json" == manifest.headers["content-type"]
        for name in bundle.files:
            resp = c.get(f"{REPORTS}/{bundle.report_id}/files/{name}")
            assert (200, (bundle.path / name).read_bytes()) == (resp.status_code, resp.content)
        html = c.get(f"{REPORTS}/{bundle.report_id}/files/report.html")
        csv = c.get(f"{REPORTS}/{bundle.report_id}/files/findings.csv")
    assert "text/html; charset=utf-8" == html.headers["content-type"]
    assert html.headers["content-disposition"].startswith("inline")
    assert "text/csv; charset=utf-8" == csv.headers["content-type"]
    assert csv.headers["content-disposition"].startswith("attachment")


@pytest.mark.parametrize(
    "suffix",
    [
        "/files/../../../../etc/passwd",
        "/files/%2e%2e/%2e%2e/auditor.db",
        "/files/..%2f..%2fauditor.db",
        "/files/%2e%2e%2f%2e%2e%2fauditor.db",
        "/files/unknown.txt",
        "/files/.auditor-chain.lock",
        "/files/report.json/extra",
    ],
)
def test_path_traversal_and_unlisted_files_are_refused(api: Api, suffix: str) -> None:
    """Nothing outside the bundle, and nothing its manifest does not list, is ever served."""
    status, body = _raw_get(api, f"{REPORTS}/{api.bundles[0].report_id}{suffix}")
    assert status in (400, 404)
    assert "error" in json.loads(body)


@pytest.mark.parametrize("rid", ["..", "%2e%2e", ".tmp-x", "..%2f..%2ftmp", "no-such-report"])
def test_bad_or_unknown_report_ids_are_not_found(api: Api, rid: str) -> None:
    """Report ids are validated by regex; anything else is a JSON 400/404, never a file."""
    for suffix in ("", "/verify", "/files/manifest.json"):
        status, body = _raw_get(api, f"{REPORTS}/{rid}{suffix}")
        assert status in (400, 404)
        assert "error" in json.loads(body)


def test_verify_reports_an_intact_bundle_valid_and_a_tampered_one_invalid(api: Api) -> None:
    """verify checks hashes and the signature against the configured signer's key."""
    good, bad = api.bundles
    (bad.path / "report.json").write_bytes((bad.path / "report.json").read_bytes() + b" ")
    with api.client(api.token) as c:
        ok = c.get(f"{REPORTS}/{good.report_id}/verify").json()
        tampered = c.get(f"{REPORTS}/{bad.report_id}/verify").json()
    assert (True, [], True) == (ok["valid"], ok["problems"], ok["trusted_key"])
    assert False is tampered["valid"]
    assert any("report.json" in p for p in tampered["problems"])


def test_other_methods_are_405_with_a_json_error(api: Api) -> None:
    """The API is read-only: writes get 405, not a traceback."""
    with api.client(api.token) as c:
        for method in ("POST", "PUT", "DELETE"):
            resp = c.request(method, REPORTS)
            assert (405, True) == (resp.status_code, "error" in resp.json())


def test_unknown_api_path_is_a_json_404(api: Api) -> None:
    """Unknown routes answer 404 with a JSON error."""
    with api.client(api.token) as c:
        resp = c.get("/api/v1/nothing")
    assert (404, "not found") == (resp.status_code, resp.json()["error"])


def test_login_form_sets_a_strict_httponly_cookie_that_opens_the_page(api: Api) -> None:
    """Browser flow: / redirects to /login; a valid token sets the cookie; the page lists reports."""
    with api.client() as c:
        first = c.get("/")
        assert (303, "/login") == (first.status_code, first.headers["location"])
        refused = c.post("/login", data={"token": api.revoked})
        assert 401 == refused.status_code
        assert "set-cookie" not in refused.headers
        login = c.post("/login", data={"token": api.token})
        assert (303, "/") == (login.status_code, login.headers["location"])
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        page = c.get("/")
        download = c.get(f"{REPORTS}/{api.bundles[0].report_id}/files/findings.csv")
        logout = c.post("/logout")
        after = c.get("/")
    assert 200 == page.status_code
    assert [b.report_id for b in api.bundles] == [
        b.report_id for b in api.bundles if b.report_id in page.text
    ]
    assert page.text.index(api.bundles[1].report_id) < page.text.index(api.bundles[0].report_id)
    assert "INCOMPLETE" in page.text
    assert (api.bundles[0].path / "findings.csv").read_bytes() == download.content
    assert "Max-Age=0" in logout.headers["set-cookie"]
    assert 303 == after.status_code


def test_signature_file_is_downloadable(api: Api) -> None:
    """manifest.sig can be fetched for offline verification with openssl."""
    b = api.bundles[1]
    with api.client(api.token) as c:
        resp = c.get(f"{REPORTS}/{b.report_id}/files/{SIGNATURE}")
    assert (b.path / SIGNATURE).read_bytes() == resp.content

"""A real API server on 127.0.0.1 (free port, background thread) over real signed bundles."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from auditor.api.reports import ReportLibrary
from auditor.api.server import ApiApp, ApiServer
from auditor.model import FixedClock
from auditor.report.bundle import write_bundle
from auditor.report.model import BundleInfo
from auditor.report.signing import Ed25519Signer
from auditor.store import Store
from auditor.store.tokens import authenticate, create_token, revoke_token
from tests.report.factory import NOW, make_input

SERVER_NOW = NOW + timedelta(days=10)


@dataclass(frozen=True)
class Api:
    url: str
    token: str
    expired: str
    revoked: str
    bundles: list[BundleInfo]
    store: Store
    signer: Ed25519Signer

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, follow_redirects=False)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    signer = Ed25519Signer(ed25519.Ed25519PrivateKey.generate())
    reports = tmp_path / "reports"
    bundles = [
        write_bundle(
            make_input(generated_at=NOW + timedelta(hours=i), with_gap=i == 1, snapshot_id=f"s{i}"),
            reports,
            signer,
        )
        for i in range(2)
    ]
    store = Store.open(f"sqlite:///{tmp_path / 'auditor.db'}")
    token = create_token(store.engine, "ci", NOW)
    expired = create_token(store.engine, "old", NOW, expires_at=NOW + timedelta(days=1))
    revoked = create_token(store.engine, "gone", NOW)
    revoke_token(store.engine, "gone", NOW + timedelta(days=2))
    clock = FixedClock(SERVER_NOW)

    def check(value: str) -> str | None:
        return authenticate(store.engine, value, clock.now())

    library = ReportLibrary(reports, signer.public_key_pem())
    server = ApiServer(ApiApp(library, check), "127.0.0.1", 0)
    server.start()
    try:
        yield Api(
            f"http://127.0.0.1:{server.port}", token, expired, revoked, bundles, store, signer
        )
    finally:
        server.stop()
        store.close()

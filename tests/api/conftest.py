"""The real server: `auditor serve` as a subprocess (uvicorn on a free 127.0.0.1 port) over
a seeded PostgreSQL schema and signed bundles, with one token per role."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from auditor.api.server import free_port
from auditor.report.signing import Ed25519Signer, generate_ed25519_pem, write_private_key
from auditor.store import Store
from auditor.store.tokens import TOKENS, create_token, revoke_token
from tests.api.seed import Seeded, seed

ROLES = ("viewer", "auditor", "operator", "admin")
START_TIMEOUT = 30.0


@dataclass
class Server:
    url: str
    tokens: dict[str, str]
    seeded: Seeded
    store: Store
    proc: subprocess.Popen[bytes]
    log: Path
    public_key: Path
    config: Path
    store_url: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, follow_redirects=False)

    def as_role(self, role: str) -> httpx.Client:
        return self.client(self.tokens[role])


def write_config(tmp: Path, store_url: str, port: int, **api: object) -> Path:
    lines = [
        f"store: {store_url!r}",
        f"reports: {{dir: {str(tmp / 'reports')!r}}}",
        f"signing: {{key_file: {str(tmp / 'signing.key')!r}}}",
        "remediation: {mode: enforce, rules: [ec2.max_age], require_approval: [ec2.max_age]}",
        "api:",
        f"  listen: '127.0.0.1:{port}'",
        *(f"  {k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in api.items()),
    ]
    path = tmp / "auditor.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_server(config: Path, url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AUDITOR_LOG_FORMAT": "json"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "auditor", "serve", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


def stop_server(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)


def make_tokens(store: Store, now: datetime) -> dict[str, str]:
    tokens = {role: create_token(store.engine, role, now, role=role) for role in ROLES}
    tokens["operator2"] = create_token(store.engine, "operator2", now, role="operator")
    tokens["expired"] = create_token(
        store.engine, "expired", now, now + timedelta(days=1), role="admin"
    )
    with store.engine.begin() as conn:
        conn.execute(
            TOKENS.update()
            .where(TOKENS.c.name == "expired")
            .values(expires_at=now - timedelta(days=1))
        )
    tokens["revoked"] = create_token(store.engine, "revoked", now, role="admin")
    revoke_token(store.engine, "revoked", now)
    return tokens


@pytest.fixture(scope="module")
def pg_schema_url() -> Iterator[str]:
    """A fresh schema per test module; every server gets its own (see _serve)."""
    yield from pg_schema()


def pg_schema() -> Iterator[str]:
    import uuid

    import psycopg

    base = os.environ.get("AUDITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, pg_schema_url: str) -> Iterator[Server]:
    """One server process per test module (PostgreSQL store)."""
    tmp = tmp_path_factory.mktemp("serve")
    yield from _serve(tmp, pg_schema_url)


def _serve(tmp: Path, base_url: str, **api: object) -> Iterator[Server]:
    """`base_url` only says which database: the server gets a schema of its own."""
    del base_url
    schemas = pg_schema()
    store_url = next(schemas)
    try:
        yield from _serve_on(tmp, store_url, **api)
    finally:
        schemas.close()


def _serve_on(tmp: Path, store_url: str, **api: object) -> Iterator[Server]:
    pem = generate_ed25519_pem()
    write_private_key(tmp / "signing.key", pem)
    signer = Ed25519Signer.from_pem(pem, "test")
    public = tmp / "public.pem"
    public.write_bytes(signer.public_key_pem())
    store = Store.open(store_url)
    now = datetime.now(UTC).replace(microsecond=0)
    seeded = seed(store, tmp / "reports", signer, now - timedelta(days=2))
    tokens = make_tokens(store, now)
    port = free_port()
    config = write_config(tmp, store_url, port, **api)
    url = f"http://127.0.0.1:{port}"
    log = tmp / "server.log"
    proc = start_server(config, url, log)
    try:
        yield Server(url, tokens, seeded, store, proc, log, public, config, store_url)
    finally:
        stop_server(proc)
        store.close()


def count_rows(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

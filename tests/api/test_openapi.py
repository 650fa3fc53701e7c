"""Contract: the OpenAPI spec the server serves is the one checked in (docs/openapi.json),
and schemathesis finds no server error (500) anywhere in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from auditor.store.tokens import create_token
from tests.api.conftest import Server

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15"))


def test_served_spec_is_the_checked_in_one(server: Server) -> None:
    """Regenerate with: UPDATE_OPENAPI_SPEC=1 pytest tests/api/test_openapi.py"""
    served = httpx.get(f"{server.url}/api/openapi.json", timeout=10).json()
    if os.environ.get("UPDATE_OPENAPI_SPEC"):
        SPEC.write_text(json.dumps(served, indent=2, sort_keys=True) + "\n")
    assert json.loads(SPEC.read_text()) == served


def test_every_list_is_paged_with_a_cursor(server: Server) -> None:
    spec = httpx.get(f"{server.url}/api/openapi.json", timeout=10).json()
    lists = [
        path
        for path, ops in spec["paths"].items()
        if "get" in ops and json.dumps(ops["get"]["responses"]["200"]).count('Page"') == 1
    ]
    assert 6 == len(lists)
    for path in lists:
        names = {p["name"] for p in spec["paths"][path]["get"].get("parameters", [])}
        assert {"cursor", "limit"} <= names, path


def test_schemathesis_finds_no_server_error(server: Server, tmp_path: Path) -> None:
    """Every operation, fuzzed as admin (so requests reach the handlers): no 500, ever."""
    cli = Path(sys.executable).with_name("schemathesis")
    # its own admin token, under a name the fuzzer will not guess (it may revoke by name)
    token = create_token(
        server.store.engine, f"fuzz-{uuid.uuid4().hex}", datetime.now(UTC), role="admin"
    )
    done = subprocess.run(
        [
            str(cli), "run", f"{server.url}/api/openapi.json",
            "--checks", "not_a_server_error",
            "--header", f"Authorization: Bearer {token}",
            "--max-examples", str(EXAMPLES),
            "--phases", "examples,coverage,fuzzing",
            "--seed", "19",
            "--no-shrink",
            "--continue-on-failure",
            "--request-timeout", "10",
            "--generation-database", "none",
        ],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert 0 == done.returncode, done.stdout[-4000:] + done.stderr[-2000:]
    print(done.stdout[-3000:])
    assert "Traceback" not in server.log.read_text()


def test_spec_does_not_depend_on_hash_randomisation() -> None:
    """The checked-in spec can only be compared if every process generates the same one
    (a set of methods once made the HEAD/GET operation ids swap between runs)."""
    code = (
        "import json, warnings\n"
        "warnings.simplefilter('error')\n"
        "from auditor.api.app import create_app\n"
        "from auditor.api.context import AppContext\n"
        "app = create_app(AppContext(store=None, library=None, clock=None, rules={}))\n"
        "print(json.dumps(app.openapi(), sort_keys=True))\n"
    )
    specs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": seed}, timeout=60,
        ).stdout
        for seed in ("1", "2", "3", "4")
    }  # fmt: skip
    assert 1 == len(specs)
    assert json.loads(SPEC.read_text()) == json.loads(specs.pop())

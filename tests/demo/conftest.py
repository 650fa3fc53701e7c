"""One in-process moto server per test process, shared by every module of tests/demo.

Modules seed disjoint (account, region) cells, so nothing needs resetting between them;
`seeded` builds each fleet once per process and again only if a test reset the server
(moto's state is process-wide, and pytest-xdist may interleave modules on a worker).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from auditor.demo.fleet import account_session
from auditor.demo.server import DemoServer

T = TypeVar("T")
ClientFactory = Callable[[str, str, str], Any]
Seeded = Callable[[str, Callable[[], T]], T]


@pytest.fixture(scope="session")
def demo_server() -> Iterator[DemoServer]:
    with DemoServer() as server:
        yield server


@pytest.fixture(scope="session")
def seeded(demo_server: DemoServer) -> Seeded[Any]:
    """seeded(name, build): build() once per process (again after a server reset)."""
    cache: dict[str, tuple[int, Any]] = {}

    def get(name: str, build: Callable[[], Any]) -> Any:
        hit = cache.get(name)
        if hit is None or hit[0] != demo_server.resets:
            hit = cache[name] = (demo_server.resets, build())
        return hit[1]

    return get


@pytest.fixture(scope="session")
def client(demo_server: DemoServer) -> ClientFactory:
    """client(service, account, region): a boto3 client in that account on the server.

    Sessions are per reset: moto forgets assumed-role credentials on reset, and then files
    requests made with them under its default account."""
    sessions: dict[tuple[int, str], Any] = {}

    def make(service: str, account: str, region: str) -> Any:
        key = (demo_server.resets, account)
        if key not in sessions:
            sessions[key] = account_session(demo_server.endpoint_url, account)
        return sessions[key].client(
            service, region_name=region, endpoint_url=demo_server.endpoint_url
        )

    return make

"""One in-process moto server per test process; each module resets it before seeding."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from auditor.demo.fleet import account_session
from auditor.demo.server import DemoServer


@pytest.fixture(scope="session")
def demo_server() -> Iterator[DemoServer]:
    with DemoServer() as server:
        yield server


@pytest.fixture(scope="module")
def fresh_server(demo_server: DemoServer) -> DemoServer:
    """The shared server, emptied for this module."""
    demo_server.reset()
    return demo_server


ClientFactory = Callable[[str, str, str], Any]


@pytest.fixture(scope="module")
def client(fresh_server: DemoServer) -> ClientFactory:
    """client(service, account, region): a boto3 client in that account on the server."""
    sessions: dict[str, Any] = {}

    def make(service: str, account: str, region: str) -> Any:
        if account not in sessions:
            sessions[account] = account_session(fresh_server.endpoint_url, account)
        return sessions[account].client(
            service, region_name=region, endpoint_url=fresh_server.endpoint_url
        )

    return make

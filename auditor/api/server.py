"""Running the app: uvicorn (h11) with bounded keep-alive, header sizes and concurrency.

uvicorn answers malformed requests (garbage request line, oversized URI or headers, unknown
HTTP version) with a 4xx itself, closes idle keep-alive connections, and on SIGTERM stops
accepting, drains in-flight requests and returns: `serve` then logs and exits 0.
"""

from __future__ import annotations

import socket

import structlog
import uvicorn

from auditor.api.app import create_app
from auditor.api.context import AppContext

log = structlog.get_logger("auditor.api")
MAX_INCOMPLETE_EVENT = 16 * 1024  # request line + headers; a 70 KB URI is refused
MAX_CONNECTIONS = 256
DRAIN_SECONDS = 10


def uvicorn_config(ctx: AppContext, host: str, port: int, fd: int | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(ctx),
        host=host,
        port=port,
        fd=fd,
        http="h11",
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=ctx.config.idle_timeout_seconds,
        timeout_graceful_shutdown=DRAIN_SECONDS,
        limit_concurrency=MAX_CONNECTIONS,
        h11_max_incomplete_event_size=MAX_INCOMPLETE_EVENT,
    )


def serve(ctx: AppContext, host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT, then drain and return."""
    server = uvicorn.Server(uvicorn_config(ctx, host, port))
    server.run()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])

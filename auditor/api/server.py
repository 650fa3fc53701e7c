"""Running the app: uvicorn (h11) with bounded keep-alive, header sizes and concurrency.

uvicorn answers malformed requests (garbage request line, oversized URI or headers, unknown
HTTP version) with a 4xx itself, closes idle keep-alive connections, and on SIGTERM stops
accepting, drains in-flight requests and returns: `serve` then logs and exits 0.
"""

from __future__ import annotations

import signal
import socket
from types import FrameType

import structlog
import uvicorn

from auditor.api.app import create_app
from auditor.api.context import AppContext
from auditor.api.protocol import DeadlineH11Protocol

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
        http=DeadlineH11Protocol,
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


class DrainingServer(uvicorn.Server):
    """SIGTERM/SIGINT: stop accepting, drain, return (uvicorn would re-raise the signal after
    its graceful shutdown, so the process would die of it with 143 instead of exiting 0)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            log.info("api.stopping", signal=signal.Signals(sig).name)
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def serve(ctx: AppContext, host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT, then drain and return."""
    DrainingServer(uvicorn_config(ctx, host, port)).run()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])

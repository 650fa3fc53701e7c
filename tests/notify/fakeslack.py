"""A real HTTP server on 127.0.0.1 standing in for Slack: incoming webhooks and the Web API."""

from __future__ import annotations

import json
import select
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WEBHOOK_PATH = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
TOKEN = "xoxb-000000000000-0000000000000-testtokentesttoken00"


@dataclass(frozen=True)
class Received:
    path: str
    body: bytes
    authorization: str | None

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Scripted:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # answer nothing; wait until the client gives up


HANG_LIMIT_SECONDS = 30.0  # a hung request is let go after this, whatever the client does


class FakeSlack:
    """Records every request; answers 200 unless a scripted failure is queued."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.abandoned_after: list[float] = []  # seconds each hung request was held open

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def fail_next(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
        self.script.append(Scripted(status, body, headers or {}))

    def hang_next(self) -> None:
        """The next request gets no answer: the server holds it until the client closes the
        connection (its timeout) and records how long that took."""
        self.script.append(Scripted(0, hang=True))

    def payloads(self, path_prefix: str = "") -> list[dict[str, Any]]:
        with self._lock:
            return [r.json for r in self.received if r.path.startswith(path_prefix)]

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with fake._lock:
                    scripted = fake.script.popleft() if fake.script else None
                    if scripted is None:
                        fake.received.append(
                            Received(self.path, body, self.headers.get("Authorization"))
                        )
                if scripted is not None and scripted.hang:
                    fake.abandoned_after.append(self._held_until_closed())
                elif scripted is not None:
                    self._answer(scripted.status, scripted.body, scripted.headers)
                elif self.path == WEBHOOK_PATH:
                    self._answer(200, "ok", {"Content-Type": "text/plain"})
                elif self.path == "/api/chat.postMessage":
                    if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                        reply = {"ok": False, "error": "invalid_auth"}
                    else:
                        reply = {"ok": True, "channel": "C1", "ts": "1.0"}
                    self._answer(200, json.dumps(reply), {"Content-Type": "application/json"})
                else:
                    self._answer(404, "no_service", {"Content-Type": "text/plain"})

            def _held_until_closed(self) -> float:
                """Seconds until the client closed the connection (readable with no data)."""
                began = time.monotonic()
                while time.monotonic() - began < HANG_LIMIT_SECONDS:
                    readable, _, _ = select.select([self.connection], [], [], 0.05)
                    if readable and not self.connection.recv(1):
                        break
                self.close_connection = True
                return time.monotonic() - began

            def _answer(self, status: int, body: str, headers: dict[str, str]) -> None:
                data = body.encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Slack is down: the port refuses connections until start() again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

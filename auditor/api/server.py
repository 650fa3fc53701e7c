"""The HTTP server: stdlib ThreadingHTTPServer, JSON errors, never a traceback or a token.

Routes (GET unless said otherwise):
  /healthz                                  no auth
  /login (GET form, POST token -> cookie)   no auth;  POST /logout clears the cookie
  /                                         HTML list of reports (bearer or cookie)
  /api/v1/reports                           JSON list, newest first
  /api/v1/reports/<id>                      the manifest JSON (its exact bytes)
  /api/v1/reports/<id>/files/<name>         a file the manifest lists
  /api/v1/reports/<id>/verify               {valid, problems, trusted_key, ...}
"""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import structlog

from auditor.api import auth, page
from auditor.api.reports import NotFoundError, ReportLibrary

log = structlog.get_logger("auditor.api")
MAX_FORM_BYTES = 4096
_SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
_PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True, slots=True)
class ApiApp:
    """What the handler needs: the bundles and a way to check a token."""

    library: ReportLibrary
    authenticate: auth.Authenticate


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _handler(app: ApiApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "auditor"
        sys_version = ""

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_HEAD(self) -> None:
            self._dispatch("HEAD")

        def _dispatch(self, method: str) -> None:
            try:
                self._route(method, _segments(self.path))
            except _HttpError as exc:
                self._json(exc.status, {"error": exc.message})
            except NotFoundError as exc:
                self._json(404, {"error": str(exc)})
            except (BrokenPipeError, ConnectionResetError):
                return
            except Exception as exc:  # never a traceback to the client
                log.error("api.request_failed", path=_log_path(self.path), error=type(exc).__name__)
                self._json(500, {"error": "internal error"})

        def _route(self, method: str, parts: list[str]) -> None:
            if parts == ["healthz"]:
                _only(method, "GET")
                self._send(200, b"ok\n", "text/plain; charset=utf-8")
            elif parts == ["login"]:
                _only(method, "GET", "POST")
                self._login(method)
            elif parts == ["logout"]:
                _only(method, "POST")
                self._redirect("/login", auth.clear_cookie())
            elif parts == []:
                _only(method, "GET")
                if self._caller() is None:
                    self._redirect("/login")
                    return
                self._send(200, page.index_html(app.library.list()), "text/html; charset=utf-8")
            elif parts[:2] == ["api", "v1"]:
                _only(method, "GET")
                if self._caller() is None:
                    raise _HttpError(401, "a valid API token is required (Authorization: Bearer)")
                self._api(parts[2:])
            else:
                raise _HttpError(404, "not found")

        def _api(self, parts: list[str]) -> None:
            lib = app.library
            match parts:
                case ["reports"]:
                    self._json(200, {"reports": lib.list()})
                case ["reports", rid]:
                    self._send(200, lib.manifest(rid), "application/json")
                case ["reports", rid, "verify"]:
                    self._json(200, lib.verify(rid))
                case ["reports", rid, "files", name]:
                    self._file(rid, name)
                case _:
                    raise _HttpError(404, "not found")

        def _caller(self) -> str | None:
            token = auth.bearer_token(self.headers) or auth.cookie_token(self.headers)
            return app.authenticate(token) if token else None

        def _login(self, method: str) -> None:
            if method == "GET":
                self._send(200, page.login_html(), "text/html; charset=utf-8", page=True)
                return
            length = self.headers.get("Content-Length", "")
            if not length.isdigit() or int(length) > MAX_FORM_BYTES:
                raise _HttpError(400, "expected a small form body with Content-Length")
            form = parse_qs(self.rfile.read(int(length)).decode("utf-8", "replace"))
            token = (form.get("token") or [""])[0].strip()
            if not token or app.authenticate(token) is None:
                body = page.login_html("That token is not valid (unknown, expired or revoked).")
                self._send(401, body, "text/html; charset=utf-8", page=True)
                return
            self._redirect("/", auth.set_cookie(token))

        def _file(self, rid: str, name: str) -> None:
            f = app.library.file(rid, name)
            disposition = "inline" if name == "report.html" else "attachment"
            with f.path.open("rb") as fh:
                self.send_response(200)
                self.send_header("Content-Type", f.content_type)
                self.send_header("Content-Length", str(f.size))
                self.send_header("Content-Disposition", f'{disposition}; filename="{f.name}"')
                self._common_headers()
                self.end_headers()
                shutil.copyfileobj(fh, self.wfile, 1 << 20)

        def _json(self, status: int, value: Any) -> None:
            body = (json.dumps(value, indent=1) + "\n").encode("utf-8")
            self._send(status, body, "application/json")

        def _send(self, status: int, body: bytes, ctype: str, *, page: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if page or ctype.startswith("text/html"):
                self.send_header("Content-Security-Policy", _PAGE_CSP)
            self._common_headers()
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _redirect(self, location: str, cookie: str | None = None) -> None:
            self.send_response(303)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            if cookie is not None:
                self.send_header("Set-Cookie", cookie)
            self._common_headers()
            self.end_headers()

        def _common_headers(self) -> None:
            for key, value in _SECURITY_HEADERS:
                self.send_header(key, value)

        def log_message(self, format: str, *args: object) -> None:
            return  # replaced by log_request below: the path only, never headers

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            log.info("api.request", method=self.command, path=_log_path(self.path), status=code)

    return Handler


def _segments(raw_path: str) -> list[str]:
    """Path segments, each percent-decoded AFTER splitting (so %2F never makes a new one)."""
    path = urlsplit(raw_path).path
    if not path.startswith("/"):
        raise _HttpError(400, "bad request path")
    try:
        parts = [unquote(p, errors="strict") for p in path.split("/")[1:]]
    except UnicodeDecodeError:
        raise _HttpError(400, "bad percent-encoding in the path") from None
    if parts and parts[-1] == "":
        parts = parts[:-1]
    if any(p in ("", ".", "..") or "/" in p or "\\" in p or "\x00" in p for p in parts):
        raise _HttpError(404, "not found")
    return parts


def _only(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise _HttpError(405, f"method {method} not allowed here (allowed: {', '.join(allowed)})")


def _log_path(raw_path: str) -> str:
    return urlsplit(raw_path).path[:200]  # no query string: nothing a client put there


class ApiServer:
    """A ThreadingHTTPServer in a background thread (tests) or the foreground (serve)."""

    def __init__(self, app: ApiApp, host: str, port: int) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(app))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._server.serve_forever(poll_interval)

    def start(self) -> None:
        """Serve from a background thread; stop() returns within ~50 ms."""
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name="api", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

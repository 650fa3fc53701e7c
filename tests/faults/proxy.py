"""An HTTP proxy in front of a moto server that injects AWS faults on matching requests.

A rule matches on service, operation, region and account (None: any). Service and region
come from the SigV4 credential scope, the operation from `X-Amz-Target` (JSON protocols)
or the `Action` form field (query protocols), the account from the access key: the proxy
learns which key belongs to which account from the AssumeRole answers it forwards (an
AssumeRole request itself belongs to the account of its RoleArn). Faults:

- denied: AccessDenied (UnauthorizedOperation on EC2) in the protocol's error shape;
- throttled: a throttling error on every attempt (so retries run out);
- refused: the connection is reset without an answer;
- blackhole: the request is accepted and never answered (until the proxy closes);
- unavailable: 503 ServiceUnavailable on every attempt.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
from dataclasses import dataclass
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DEFAULT_ACCOUNT = "123456789012"  # moto's account for keys it did not issue
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
_SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_ROLE_ACCOUNT = re.compile(r"arn:aws:iam::(\d{12}):role/")
_ACCESS_KEY = re.compile(r"<AccessKeyId>([^<]+)</AccessKeyId>")


class Fault(StrEnum):
    DENIED = "denied"
    THROTTLED = "throttled"
    REFUSED = "refused"
    BLACKHOLE = "blackhole"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Rule:
    fault: Fault
    service: str | None = None  # SigV4 signing name: "ec2", "ecs", "sts", "organizations"
    operation: str | None = None  # "DescribeLaunchTemplateVersions"
    region: str | None = None
    account: str | None = None

    def matches(self, service: str, operation: str, region: str, account: str) -> bool:
        return all(
            want is None or want == got
            for want, got in (
                (self.service, service),
                (self.operation, operation),
                (self.region, region),
                (self.account, account),
            )
        )


@dataclass(frozen=True, slots=True)
class Seen:
    service: str
    operation: str
    region: str
    account: str
    fault: Fault | None


class FaultProxy:
    """Forwards to `upstream` unless a rule matches; records every request it saw."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self._upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self._lock = threading.Lock()
        self._release = threading.Event()  # set: black-holed requests give up
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self._accounts: dict[str, str] = {}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                service, operation, region, account = proxy._classify(self, body)
                fault = proxy._fault(service, operation, region, account)
                with proxy._lock:
                    proxy.seen.append(Seen(service, operation, region, account, fault))
                if fault is None:
                    proxy._forward(self, body, account)
                else:
                    proxy._inject(self, fault, service, self.headers)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def inject(self, *rules: Rule) -> None:
        """Replace the rules (and forget what was seen); black holes of earlier rules close."""
        with self._lock:
            self.rules = list(rules)
            self.seen = []
            self._release.set()
            self._release = threading.Event()

    def clear(self) -> None:
        self.inject()

    def faulted(self) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.fault is not None]

    # -- classification ---------------------------------------------------------------------
    def _classify(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[str, str, str, str]:
        match = _SCOPE.search(handler.headers.get("Authorization") or "")
        key, region, service = match.groups() if match else ("", "", "")
        target = handler.headers.get("X-Amz-Target") or ""
        operation = target.rsplit(".", 1)[-1] if target else ""
        form = {}
        if "x-www-form-urlencoded" in (handler.headers.get("Content-Type") or ""):
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            operation = operation or form.get("Action", "")
        role = _ROLE_ACCOUNT.search(form.get("RoleArn", "")) if operation == "AssumeRole" else None
        with self._lock:
            account = role.group(1) if role else self._accounts.get(key, DEFAULT_ACCOUNT)
        return service, operation, region, account

    def _fault(self, service: str, operation: str, region: str, account: str) -> Fault | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(service, operation, region, account):
                    return rule.fault
        return None

    # -- forwarding ---------------------------------------------------------------------------
    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes, account: str) -> None:
        conn = http.client.HTTPConnection(*self._upstream, timeout=60)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
            conn.request(handler.command, handler.path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            for key in _ACCESS_KEY.findall(data.decode(errors="replace")):
                with self._lock:
                    self._accounts[key] = account  # AssumeRole answers: key -> role account
            handler.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP | {"content-length"}:
                    handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(data)
        except OSError:
            handler.close_connection = True
        finally:
            conn.close()

    def _inject(
        self, handler: BaseHTTPRequestHandler, fault: Fault, service: str, headers: object
    ) -> None:
        if fault is Fault.REFUSED:
            sock: socket.socket = handler.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            sock.close()
            return
        if fault is Fault.BLACKHOLE:
            with self._lock:
                release = self._release
            release.wait(120)
            handler.close_connection = True
            return
        query = "x-www-form-urlencoded" in (handler.headers.get("Content-Type") or "")
        status, code = {
            Fault.DENIED: (403, "UnauthorizedOperation" if service == "ec2" else "AccessDenied"),
            Fault.THROTTLED: (400, "RequestLimitExceeded" if service == "ec2" else "Throttling"),
            Fault.UNAVAILABLE: (503, "ServiceUnavailable"),
        }[fault]
        message = f"injected fault: {fault.value}"
        if query and service == "ec2":
            ctype = "text/xml"
            text = (
                f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
                "</Error></Errors><RequestID>fault</RequestID></Response>"
            )
        elif query:
            ctype = "text/xml"
            text = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
            )
        else:
            code = {
                "AccessDenied": "AccessDeniedException",
                "Throttling": "ThrottlingException",
            }.get(code, code + "Exception" if code == "ServiceUnavailable" else code)
            ctype = "application/x-amz-json-1.1"
            text = json.dumps({"__type": code, "message": message})
        data = text.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("x-amzn-ErrorType", code)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

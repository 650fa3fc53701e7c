"""An in-process moto server on 127.0.0.1, for the demo, the benchmarks and end-to-end tests.

In-process matters: moto stamps every resource "now", and only a server running in this
process lets `auditor.demo.aging` reach its backends to make resources look old.
"""

from __future__ import annotations

import contextlib
import logging
from types import TracebackType

DEMO_ACCESS_KEY_ID = "demo-access-key"
DEMO_SECRET_ACCESS_KEY = "demo-secret-key"  # noqa: S105 - moto accepts any fake credentials
DEFAULT_REGION = "us-east-1"


def demo_aws_env(endpoint_url: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """The environment that points boto3 (and so auditor) at the moto server.

    Returned, not applied: the caller decides whether to update os.environ, a subprocess
    environment, or a pytest monkeypatch.
    """
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEMO_SECRET_ACCESS_KEY,
        "AWS_SESSION_TOKEN": "demo-session-token",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


class DemoServer:
    """moto's ThreadedMotoServer on 127.0.0.1 and a free port; a context manager.

    >>> with DemoServer() as server:
    ...     env = demo_aws_env(server.endpoint_url)
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True) -> None:
        self._host = host
        self._port = port
        self._quiet = quiet
        self._server: object | None = None
        self._endpoint_url: str | None = None
        self._registry = contextlib.ExitStack()
        self._resets = 0

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise RuntimeError("DemoServer is not running: use it as a context manager or start()")
        return self._endpoint_url

    def start(self) -> DemoServer:
        from moto.server import ThreadedMotoServer

        if self._quiet:
            # werkzeug logs one line per request to stderr; the demo prints its own summary.
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self._endpoint_url = f"http://{host}:{port}"
        self._configure()
        from auditor.demo.registry import demo_registry

        # moto keeps image manifests but serves no blobs: a local server does (demo only)
        self._registry.enter_context(demo_registry())
        return self

    def _configure(self) -> None:
        """moto advances an ECS task's lastStatus towards STOPPED each time it is described;
        a real task runs until stopped. Ask moto (its public state-manager API) to hold it."""
        self._moto_api(
            "state-manager/set-transition",
            {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 10**9}},
        )

    def _moto_api(self, path: str, body: dict[str, object] | None = None) -> None:
        import json
        import urllib.request

        url = f"{self.endpoint_url}/moto-api/{path}"  # http://127.0.0.1:<port>: ours
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            response.read()

    @property
    def resets(self) -> int:
        """How many times reset() ran: anything seeded before a later reset is gone."""
        return self._resets

    def reset(self) -> None:
        """Forget every resource in every account and region (moto's global reset)."""
        self._moto_api("reset")
        self._resets += 1
        self._configure()

    def stop(self) -> None:
        server, self._server, self._endpoint_url = self._server, None, None
        self._registry.close()
        if server is not None:
            server.stop()  # type: ignore[attr-defined]

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

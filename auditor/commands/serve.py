"""`auditor serve`: the reports API and web page (needs an API token: `auditor tokens`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DESCRIPTION = """\
Serve the signed report bundles in reports.dir: a web page listing them and a JSON API.
Every endpoint but /healthz needs an API token (Authorization: Bearer TOKEN, or the login
form at /login). Listens on api.listen (default 127.0.0.1:8080). See docs/api.md.

examples:
  auditor tokens create --name ci
  auditor serve --config auditor.yaml
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v1/reports
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the reports API and web page",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, default=None, help="config file (default ./auditor.yaml)")
    p.set_defaults(handler=serve)


def trusted_key(settings: Any) -> bytes | None:
    """The configured signer's public key, or None when no signer can be loaded."""
    import structlog

    from auditor.aws import AwsSessions
    from auditor.errors import AuditorError
    from auditor.report.publish import kms_factory
    from auditor.report.signing import signer_from_settings

    try:
        return signer_from_settings(settings, kms_factory(AwsSessions())).public_key_pem()
    except (AuditorError, OSError, ValueError) as exc:
        structlog.get_logger("auditor.api").warning(
            "api.no_trusted_key",
            reason=type(exc).__name__,
            detail="verify checks each bundle against its embedded key only",
        )
        return None


def serve(args: argparse.Namespace) -> int:
    import structlog

    from auditor.api.reports import ReportLibrary
    from auditor.api.server import ApiApp, ApiServer
    from auditor.model import SystemClock
    from auditor.settings import load_settings
    from auditor.store import Store
    from auditor.store.tokens import authenticate

    settings = load_settings(args.config)
    store = Store.open(settings.store)
    clock = SystemClock()

    def check(token: str) -> str | None:
        return authenticate(store.engine, token, clock.now())

    library = ReportLibrary(Path(settings.reports.dir), trusted_key(settings))
    host, _, port = settings.api.listen.rpartition(":")
    server = ApiServer(ApiApp(library, check), host.strip("[]"), int(port))
    structlog.get_logger("auditor.api").info(
        "api.listening", url=f"http://{settings.api.listen}/", reports=str(library.directory)
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()
        store.close()
    return 0

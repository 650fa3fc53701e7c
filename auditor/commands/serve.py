"""`auditor serve`: the reports API and web page (needs an API token: `auditor tokens`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DESCRIPTION = """\
Serve the web app (overview, findings, resources, reports, exemptions, remediation
approvals, audit log) and its JSON API (OpenAPI at /api/openapi.json). Every endpoint but
/healthz needs an API token (Authorization: Bearer TOKEN, or the login form at /login).
Listens on api.listen (default 127.0.0.1:8080); put a TLS proxy in front in production and
set api.secure_cookies. SIGTERM drains in-flight requests and exits 0. See docs/api.md.

examples:
  auditor tokens create --name ci --role auditor
  auditor serve --config auditor.yaml
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v1/reports
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the web app and its API",
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
    from auditor.report.aws_clients import kms_factory
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


def build_context(settings: Any, store: Any) -> Any:
    """Everything the app needs, loaded before the first request (bad rules: exit 2)."""
    from auditor.api.context import AppContext
    from auditor.api.reports import ReportLibrary
    from auditor.api.throttle import LoginThrottle
    from auditor.engine import load_exemptions, load_rules
    from auditor.model import SystemClock

    rules = load_rules(settings.rules)
    return AppContext(
        store=store,
        library=ReportLibrary(Path(settings.reports.dir), trusted_key(settings)),
        clock=SystemClock(),
        rules={r.id: rules.info(r.id) for r in rules.rules},
        config=settings.api,
        config_exemptions=load_exemptions(settings),
        require_approval=settings.remediation.require_approval,
        throttle=LoginThrottle(per_minute=settings.api.login_failures_per_minute),
    )


def serve(args: argparse.Namespace) -> int:
    import structlog

    from auditor.api.server import serve as run
    from auditor.settings import load_settings
    from auditor.store import Store

    settings = load_settings(args.config)
    store = Store.open(settings.store)
    log = structlog.get_logger("auditor.api")
    try:
        ctx = build_context(settings, store)
        host, _, port = settings.api.listen.rpartition(":")
        log.info(
            "api.listening",
            url=f"http://{settings.api.listen}/",
            reports=str(ctx.library.directory),
        )
        run(ctx, host.strip("[]"), int(port))
        log.info("api.stopped", detail="drained in-flight requests")
    finally:
        store.close()
    return 0

"""Stage 7, deliver: the outbox, oldest first, within the alert time budget.

The one delivery path of scans, the daemon, event micro-cycles and the demo: each request
is bounded by `slack.timeout_seconds` whatever the channel. A channel outage never fails a
committed cycle: it is logged and what is pending is retried next time.
"""

from __future__ import annotations

import structlog

from auditor.notify import Transports, deliver_pending
from auditor.pipeline.values import CycleContext, Delivered

log = structlog.get_logger("auditor.cycle")


def deliver(ctx: CycleContext, alerting: bool) -> Delivered:
    """What the outbox holds (this cycle's and earlier undelivered alerts), if anyone listens."""
    if not alerting:
        return Delivered()
    transport = ctx.options.transport or Transports(ctx.settings)
    outbox = ctx.store.outbox()
    try:
        result = deliver_pending(
            outbox,
            transport,
            ctx.settings.slack,
            ctx.clock,
            deadline_seconds=ctx.options.alert_deadline_seconds,
        )
        return Delivered(len(result.sent), len(result.failed) + len(result.deferred))
    except Exception:
        log.exception("alert_delivery_failed")
        return Delivered(0, len(outbox.pending()))
    finally:
        if isinstance(transport, Transports):
            transport.close()

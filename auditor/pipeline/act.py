"""Stage 5, act: remediation in enforce mode (dry-run makes zero calls).

The plan is on record (stage 4) before the first mutating call; each outcome is recorded
after it, and alerts about what was done join the outbox.
"""

from __future__ import annotations

from auditor.model import ActionRecord
from auditor.pipeline.decide import execute_plan
from auditor.pipeline.values import CycleContext, Decided


def act(ctx: CycleContext, decided: Decided) -> tuple[ActionRecord, ...]:
    """The actions as taken (enforce) or as committed (dry-run, off, nothing planned)."""
    if not decided.enforcing:
        return decided.actions
    ctx.store.fence()  # the lease, once more, right before the first mutating call
    actions = execute_plan(ctx, decided.plan)
    ctx.store.record_actions(actions)
    if decided.alerts is not None:
        # same keys for the delta's messages (ignored); a new one for what was done
        ctx.store.outbox().enqueue(decided.alerts.messages(actions))
    return actions

"""Stage 2, evaluate: declared state, the rules over the snapshot, and what changed.

`evaluate_snapshot` is the one evaluation of a stored or fresh snapshot: a cycle runs it on
what it collected, `report_input` replays it on the latest stored cycle.
"""

from __future__ import annotations

from collections.abc import Mapping

from auditor.engine import Exemption, RuleSet, carry_over, compute_delta, evaluate
from auditor.engine.history import baseline_arns, baseline_kinds, build_history
from auditor.engine.reuse import Reuse, plan_reuse
from auditor.iac.load import with_declared_state
from auditor.model import Clock, Evaluation, Finding, Service, Snapshot, TrackedFinding
from auditor.pipeline.enrich import attributed, with_access
from auditor.pipeline.preflight import tag_policy
from auditor.pipeline.values import Collected, CycleContext, Judged
from auditor.settings import Settings
from auditor.stage_guard import StageGuard
from auditor.store import Store


def evaluate_snapshot(
    settings: Settings,
    store: Store,
    rules: RuleSet,
    exemptions: tuple[Exemption, ...],
    clock: Clock,
    snapshot: Snapshot,
    previous: Snapshot | None,
    open_findings: Mapping[str, TrackedFinding],
    reuse: Reuse | None = None,
) -> Evaluation:
    """The findings of `snapshot`, with the stored history its rules compare with (first
    observed versions, the previous cycle, shell sessions) and who caused each."""
    versions = store.baselines(baseline_arns(snapshot, baseline_kinds(rules)))
    history = with_access(build_history(versions, previous), settings, store)
    found = evaluate(
        snapshot,
        rules,
        exemptions,
        clock,
        history=history,
        tag_policy=tag_policy(settings),
        reuse=reuse,
    )
    return attributed(found, settings, store, open_findings)


def judge(ctx: CycleContext, guard: StageGuard, collected: Collected) -> Judged:
    """Declared state, evaluation and the delta, each failing closed (stage_guard): a crash
    hides what it judged, so nothing is resolved or remediated on its strength."""
    snapshot = guard.run(
        "iac",
        lambda: with_declared_state(
            collected.snapshot, ctx.settings, ctx.rules, ctx.sessions, ctx.clock
        ),
        lambda: collected.snapshot,
        hides=True,
        services=(Service.IAC,),
    )
    open_before = collected.prior.open_findings
    evaluation = guard.run(
        "evaluate",
        lambda: _evaluate(ctx, snapshot, collected, open_before),
        lambda: Evaluation(snapshot.id, ctx.clock.now(), (), ()),
        hides=True,
    )
    snapshot = guard.seal(snapshot)
    now = ctx.clock.now()
    delta = guard.run(
        "delta",
        lambda: compute_delta(
            open_before, evaluation, now, gaps=snapshot.gaps, covered=ctx.options.looked_at
        ),
        lambda: carry_over(open_before, guard.gaps),
        hides=True,
    )
    return Judged(guard.seal(snapshot), evaluation, delta, now)


def _evaluate(
    ctx: CycleContext,
    snapshot: Snapshot,
    collected: Collected,
    open_before: Mapping[str, TrackedFinding],
) -> Evaluation:
    """Reusing the previous cycle's results where they provably cannot differ
    (engine/reuse.py)."""
    previous = collected.previous
    reuse = plan_reuse(
        snapshot, previous, ctx.rules, collected.prior.fingerprints, _findings(open_before)
    )
    return evaluate_snapshot(
        ctx.settings,
        ctx.store,
        ctx.rules,
        ctx.exemptions,
        ctx.clock,
        snapshot,
        previous,
        open_before,
        reuse,
    )


def _findings(tracked: Mapping[str, TrackedFinding]) -> dict[str, Finding]:
    return {fid: t.finding for fid, t in tracked.items()}

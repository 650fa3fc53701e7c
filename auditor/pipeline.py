"""The one module that knows the order of the stages of an audit cycle.

collect -> store -> evaluate (rules + drift) -> findings delta -> remediation plan ->
report + signature -> Slack. The CLI, the demo and the daemon only call `run_cycle`.
Database writes of one cycle are one transaction (`Store.commit_cycle`); the report bundle is
written after it (atomically, by rename) and alerts are delivered last, from the outbox, so a
Slack outage never loses an alert nor fails the cycle.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from auditor.aws import AwsSessions
from auditor.collect.base import PreviousState
from auditor.collect.runner import ProgressCallback, collect, collect_client_config
from auditor.engine import (
    Exemption,
    RuleSet,
    TagPolicy,
    carry_over,
    check_exemptions,
    compute_delta,
    evaluate,
    load_exemptions,
    load_rules,
)
from auditor.engine.exemptions import from_requests
from auditor.engine.history import (
    baseline_arns,
    baseline_kinds,
    build_history,
    restrict,
    with_secret_allowlist,
)
from auditor.engine.reuse import fingerprints, plan_reuse
from auditor.errors import ExitCode
from auditor.events.enrich import attributed, with_access
from auditor.iac.load import with_declared_state
from auditor.model import (
    ActionRecord,
    Clock,
    Evaluation,
    Finding,
    FindingDelta,
    FixedClock,
    OutboxMessage,
    RuleInfo,
    Service,
    Severity,
    Snapshot,
    SnapshotView,
    Status,
    SystemClock,
    TrackedFinding,
)
from auditor.notify import (
    GAPS,
    SlackTransport,
    active_destinations,
    coverage_alert_key,
    deliver_pending,
    plan_messages,
)
from auditor.remediate.approvals import gate
from auditor.remediate.executor import execute, kill_switch_engaged, session_client_for
from auditor.remediate.plan import Plan
from auditor.remediate.planner import plan
from auditor.report.assemble import build_report_input, with_audit_log
from auditor.report.aws_clients import kms_factory
from auditor.report.bundle import new_report_id
from auditor.report.chain import Published, ReportChain
from auditor.report.disk import LocalDisk
from auditor.report.errors import ReportError, ReportWriteError
from auditor.report.input import ReportInput
from auditor.report.signing import Signer, signer_from_settings
from auditor.report.storage import check_report_dir
from auditor.settings import Settings, require_shared_store
from auditor.stage_guard import StageGuard
from auditor.store import ChainEntry, CycleRecord, Store
from auditor.workers import executor_for

log = structlog.get_logger("auditor.cycle")

IAC_UNMANAGED_RULE = "iac.unmanaged"
RULE_FINGERPRINTS = "rule_fingerprints"  # cycle metadata: what evaluation reuse compares
CFN_STACK_TAG = "aws:cloudformation:stack-name"


@dataclass(frozen=True, slots=True)
class CycleOptions:
    fail_on: Severity = Severity.HIGH
    write_report: bool = True
    send_alerts: bool = True
    remediate: bool = True
    progress: ProgressCallback | None = None
    alert_deadline_seconds: float = 30.0
    # a full bundle even when nothing changed (otherwise such a cycle appends an attestation)
    full_report: bool = False
    # a notify Transport; the demo passes a capture. None: Slack as configured.
    transport: Any = None
    # called before anything is written or any action is taken; raises to abandon the
    # cycle (the daemon's leadership check: a replica that lost its lease writes nothing)
    fence: Callable[[], None] | None = None
    # a run narrowed to part of the estate (`auditor scan --region ...`): open findings it
    # did not look at are carried over, never resolved
    looked_at: Callable[[Finding], bool] | None = None
    # the event feed's state for the report's coverage.events (the daemon sets it)
    events_coverage: Mapping[str, Any] | None = None
    # the file operations report bundles are written with (tests inject a full disk)
    report_disk: LocalDisk | None = None


@dataclass(frozen=True, slots=True)
class Preflight:
    """Everything that can be wrong before a cycle starts: bad rules, bad exemptions, a
    missing signing key. Checked before any AWS call or database write (exit code 2)."""

    rules: RuleSet
    exemptions: tuple[Exemption, ...]
    signer: Signer | None


def preflight(
    settings: Settings,
    sessions: AwsSessions | None = None,
    *,
    write_report: bool = True,
    clock: Clock | None = None,
) -> Preflight:
    require_shared_store(settings)
    loaded = load_rules(settings.rules)
    rules = cycle_rules(loaded, settings)
    exemptions = load_exemptions(settings)
    today = (clock or SystemClock()).now().date()
    check_exemptions(exemptions, loaded, settings.exemption_policy, today)
    signer = None
    if write_report:
        check_report_dir(Path(settings.reports.dir))
        signer = signer_from_settings(settings, kms_factory(sessions or AwsSessions()))
    return Preflight(rules, exemptions, signer)


@dataclass(frozen=True, slots=True)
class CycleResult:
    cycle_id: str
    snapshot: Snapshot
    evaluation: Evaluation
    delta: FindingDelta
    actions: tuple[ActionRecord, ...] = ()
    report_dir: Path | None = None
    alerts_sent: int = 0
    alerts_pending: int = 0
    duration_seconds: float = 0.0
    counts: Mapping[str, Any] = field(default_factory=dict)

    def exit_code(self, fail_on: Severity) -> ExitCode:
        """3 when collection was incomplete (the result cannot be trusted as a pass), else 1
        when a failing finding is at or above `fail_on`, else 0."""
        if not self.snapshot.complete:
            return ExitCode.INCOMPLETE
        if any(
            f.status is Status.FAIL and f.severity.at_least(fail_on)
            for f in self.evaluation.findings
        ):
            return ExitCode.VIOLATIONS
        return ExitCode.OK


def run_cycle(
    settings: Settings,
    *,
    clock: Clock | None = None,
    sessions: AwsSessions | None = None,
    store: Store | None = None,
    options: CycleOptions | None = None,
) -> CycleResult:
    """Run one full audit cycle and return what it found and did."""
    clock = clock or SystemClock()
    options = options or CycleOptions()
    began = time.perf_counter()
    sessions = sessions or AwsSessions(config=collect_client_config(settings))
    checked = preflight(settings, sessions, write_report=options.write_report, clock=clock)
    rules, exemptions, signer = checked.rules, checked.exemptions, checked.signer
    fence = options.fence or (lambda: None)
    own_store = store is None
    store = store or Store.open(settings.store)
    try:
        exemptions += from_requests(store.approved_exemption_requests(clock.now().date()))
        previous = store.latest_snapshot()
        collected = collect(
            settings,
            sessions,
            clock,
            PreviousState.from_snapshot(previous),
            options.progress,
            executor=executor_for(settings, store),
        )
        # after collection, a crashing stage is a coverage gap with a fallback (stage_guard)
        declared = (Service.IAC,) if settings.iac.terraform_states else ()
        guard = StageGuard((*settings.services, *declared))
        snapshot, evaluation, delta, now = _judge(
            guard,
            collected,
            previous,
            settings,
            checked,
            exemptions,
            store,
            sessions,
            clock,
            options,
        )
        infos = {r.id: rules.info(r.id) for r in rules.rules}

        decided = Plan(cycle_id=snapshot.id, mode="off")
        if options.remediate and settings.remediation.mode != "off":
            decided = guard.run(
                "remediation",
                lambda: _plan(settings, snapshot, delta, infos, store, now),
                lambda: Plan(cycle_id=snapshot.id, mode="off"),
                hides=False,
            )
        enforcing = settings.remediation.mode == "enforce" and bool(decided.planned)
        # dry-run: the executor only stamps the records (it makes no call)
        actions: tuple[ActionRecord, ...] = (
            decided.records
            if enforcing
            else guard.run(
                "remediation",
                lambda: _execute(settings, decided, sessions, clock),
                tuple,
                hides=False,
            )
        )
        snapshot = guard.seal(snapshot)

        report_id = new_report_id(now)
        report_url = _report_url(settings, report_id)
        alerting = options.send_alerts and (
            options.transport is not None or bool(active_destinations(settings.slack))
        )
        gap_alerts = _coverage_alert_times(store) if alerting else {}
        messages: tuple[OutboxMessage, ...] = (
            guard.run(
                "alerts",
                lambda: plan_messages(
                    delta,
                    snapshot.gaps,
                    actions,
                    infos,
                    settings.slack,
                    report_url,
                    now,
                    gap_alerts,
                ),
                _nothing,
                hides=False,
            )
            if alerting
            else ()
        )
        snapshot = guard.seal(snapshot)
        with _report_chain(settings, store, sessions, clock, signer, options) as chain:
            # One transaction: snapshot, findings lifecycle, the remediation plan, the alerts,
            # and the report this cycle owes.
            fence()
            store.commit_cycle(
                CycleRecord(
                    snapshot=snapshot,
                    evaluation=evaluation,
                    tracked=delta.new + delta.still_open + delta.resolved,
                    actions=actions,
                    outbox=messages,
                    report_id=report_id if signer is not None else None,
                    metadata={
                        "api_errors": dict(sessions.counter.errors),
                        RULE_FINGERPRINTS: fingerprints(rules),
                    },
                    seen_at=now,
                )
            )
            if enforcing:
                # The plan is on record before the first mutating call; each outcome after it.
                fence()
                actions = _execute(settings, decided, sessions, clock)
                store.record_actions(actions)
                if alerting:
                    # same keys for the delta's messages (ignored); a new one for what was done
                    store.outbox().enqueue(
                        plan_messages(
                            delta,
                            snapshot.gaps,
                            actions,
                            infos,
                            settings.slack,
                            report_url,
                            now,
                            gap_alerts,
                        )
                    )
            report_dir, unwritten = _publish(
                chain,
                lambda: with_audit_log(
                    build_report_input(
                        settings,
                        snapshot,
                        evaluation,
                        delta,
                        rules,
                        exemptions,
                        actions,
                        clock,
                        events=options.events_coverage,
                    ),
                    store.audit_since,
                ),
                report_id,
                snapshot.id,
                attest_if_unchanged=not options.full_report,
            )
        sent, pending = _deliver(settings, store, options, clock) if alerting else (0, 0)
        if unwritten is not None:
            raise unwritten
        result = CycleResult(
            cycle_id=snapshot.id,
            snapshot=snapshot,
            evaluation=evaluation,
            delta=delta,
            actions=actions,
            report_dir=report_dir,
            alerts_sent=sent,
            alerts_pending=pending,
            duration_seconds=time.perf_counter() - began,
        )
        result = _with_counts(result, sessions.counter.errors)
        _log_cycle(result)
        return result
    finally:
        if own_store:
            store.close()


def _judge(
    guard: StageGuard,
    collected: Snapshot,
    previous: Snapshot | None,
    settings: Settings,
    checked: Preflight,
    exemptions: tuple[Exemption, ...],
    store: Store,
    sessions: AwsSessions,
    clock: Clock,
    options: CycleOptions,
) -> tuple[Snapshot, Evaluation, FindingDelta, datetime]:
    """Declared state, evaluation and the delta (and the time it was judged at), each
    failing closed (stage_guard)."""
    rules = checked.rules
    snapshot = guard.run(
        "iac",
        lambda: with_declared_state(collected, settings, rules, sessions, clock),
        lambda: collected,
        hides=True,
        services=(Service.IAC,),
    )

    previous_open = store.open_findings()

    def judge() -> Evaluation:
        versions = store.baselines(baseline_arns(snapshot, baseline_kinds(rules)))
        history = with_access(build_history(versions, previous), settings, store)
        # the previous cycle's results where they provably cannot differ (engine/reuse.py)
        reuse = plan_reuse(
            snapshot, previous, rules, _previous_fingerprints(store), _findings(previous_open)
        )
        found = evaluate(
            snapshot,
            rules,
            exemptions,
            clock,
            history=history,
            tag_policy=tag_policy(settings),
            reuse=reuse,
        )
        return attributed(found, settings, store, previous_open)

    evaluation = guard.run(
        "evaluate", judge, lambda: Evaluation(snapshot.id, clock.now(), (), ()), hides=True
    )
    snapshot = guard.seal(snapshot)
    now = clock.now()
    delta = guard.run(
        "delta",
        lambda: compute_delta(
            previous_open, evaluation, now, gaps=snapshot.gaps, covered=options.looked_at
        ),
        lambda: carry_over(previous_open, guard.gaps),
        hides=True,
    )
    return guard.seal(snapshot), evaluation, delta, now


def _nothing() -> tuple[Any, ...]:
    return ()


def _previous_fingerprints(store: Store) -> Mapping[str, str]:
    """The rule fingerprints the latest cycle evaluated with (none before this was kept)."""
    latest = store.list_cycles(limit=1)
    found = latest[0].metadata.get(RULE_FINGERPRINTS) if latest else None
    return found if isinstance(found, dict) else {}


def _findings(tracked: Mapping[str, TrackedFinding]) -> dict[str, Finding]:
    return {fid: t.finding for fid, t in tracked.items()}


@contextmanager
def _report_chain(
    settings: Settings,
    store: Store,
    sessions: AwsSessions,
    clock: Clock,
    signer: Signer | None,
    options: CycleOptions,
) -> Iterator[ReportChain | None]:
    """The report chain, locked from before the cycle's commit until its report is recorded:
    a report the ledger still calls pending then has no live writer, and is repaired first."""
    if signer is None:
        yield None
        return
    chain = ReportChain(store, settings, sessions, clock, signer, options.report_disk)
    with chain.locked():
        chain.repair(
            lambda e: with_audit_log(
                report_input(settings, clock=clock, store=store, cycle=e), store.audit_since
            )
        )
        yield chain


def _publish(
    chain: ReportChain | None,
    data: Callable[[], ReportInput],
    report_id: str,
    cycle_id: str,
    *,
    attest_if_unchanged: bool = False,
) -> tuple[Path | None, ReportWriteError | None]:
    """The cycle's report (an attestation when nothing changed and `attest_if_unchanged`);
    a write failure is returned, to be raised after the alerts went out (a full disk delays
    no alert; the ledger already marks the report failed)."""
    if chain is None:
        return None, None
    try:
        published = chain.publish(
            data(),
            report_id=report_id,
            cycle_id=cycle_id,
            attest_if_unchanged=attest_if_unchanged,
        )
        return published.bundle.path, None
    except ReportWriteError as exc:
        return None, exc


def cycle_rules(rules: RuleSet, settings: Settings) -> RuleSet:
    """The rules this configuration can judge, with the estate's secret allowlist. Without a
    Terraform state there is nothing to compare with, so the iac.* rules do not run (they
    would call everything unmanaged);
    `iac.cloudformation_managed: false` stops counting CloudFormation stacks as managed."""
    rules = with_secret_allowlist(rules, settings.secrets)
    if not settings.events.enabled:
        # the access.* rules read the feed's shells: without a feed nothing could be seen
        rules = restrict(rules, disabled=("access.*",))
    if not settings.iac.terraform_states:
        return restrict(rules, disabled=("iac.*",))
    unmanaged = rules.get(IAC_UNMANAGED_RULE)
    if not settings.iac.cloudformation_managed and unmanaged is not None:
        tags = [t for t in unmanaged.params.get("managed_tags", []) if t != CFN_STACK_TAG]
        return restrict(rules, params={IAC_UNMANAGED_RULE: {"managed_tags": tags}})
    return rules


def tag_policy(settings: Settings) -> TagPolicy:
    """Which rules resource tags may exempt (exemption_policy.tags; none by default)."""
    return TagPolicy.from_config(settings.exemption_policy.tags)


def _report_url(settings: Settings, report_id: str) -> str | None:
    base = settings.reports.base_url
    if base:
        return f"{base.rstrip('/')}/{report_id}/report.html"
    return None


def _coverage_alert_times(store: Store) -> dict[str, datetime]:
    """When each coverage alert was first queued, by its stable key."""
    out: dict[str, datetime] = {}
    for key, queued in store.outbox().first_queued(f"{GAPS}:").items():
        base = coverage_alert_key(key)
        if base is not None and (base not in out or queued < out[base]):
            out[base] = queued
    return out


def _deliver(
    settings: Settings, store: Store, options: CycleOptions, clock: Clock
) -> tuple[int, int]:
    """Deliver what the outbox holds (this cycle's and earlier undelivered alerts). A Slack
    outage never fails a committed cycle: it is logged and retried next time."""
    transport = options.transport or SlackTransport(settings.slack)
    try:
        result = deliver_pending(
            store.outbox(),
            transport,
            settings.slack,
            clock,
            deadline_seconds=options.alert_deadline_seconds,
        )
        return len(result.sent), len(result.failed) + len(result.deferred)
    except Exception:
        log.exception("alert_delivery_failed")
        return 0, len(store.outbox().pending())
    finally:
        if options.transport is None:
            close = getattr(transport, "close", None)
            if callable(close):
                close()


def _plan(
    settings: Settings,
    snapshot: Snapshot,
    delta: FindingDelta,
    infos: Mapping[str, RuleInfo],
    store: Store,
    now: datetime,
) -> Plan:
    decided = plan(
        delta.open,
        SnapshotView(snapshot),
        infos,
        settings.remediation,
        store.actions_since(now - timedelta(days=1)),
        now,
        snapshot.id,
        kill_switch_engaged(settings.remediation, os.environ),
    )
    open_by_id = {t.id: t for t in delta.open}
    return gate(decided, settings.remediation.require_approval, open_by_id, store.open_decisions())


def _execute(
    settings: Settings, decided: Plan, sessions: AwsSessions, clock: Clock
) -> tuple[ActionRecord, ...]:
    roles = {a.id: a.role_arn for a in settings.accounts}
    client_for = session_client_for(sessions, roles)
    return tuple(execute(decided, client_for, settings.remediation.mode, clock))


def report_input(
    settings: Settings,
    *,
    since: datetime | None = None,
    clock: Clock | None = None,
    store: Store | None = None,
    cycle: ChainEntry | None = None,
) -> ReportInput:
    """An on-demand report from the latest stored cycle (`auditor report`, the daemon's report
    schedule): the stored snapshot re-evaluated with the current rules (evaluation is pure,
    so this is a replay), with each finding's stored history. Findings first seen at or
    after `since` are the report's "new"; findings resolved in that window are not listed.

    With `cycle` (the report chain's repair of a report that was never written): that cycle
    must still be the latest, and it is evaluated at its own evaluation time."""
    clock = clock or SystemClock()
    rules = cycle_rules(load_rules(settings.rules), settings)
    exemptions = load_exemptions(settings)
    own_store = store is None
    store = store or Store.open(settings.store)
    try:
        exemptions += from_requests(store.approved_exemption_requests(clock.now().date()))
        cycles = store.list_cycles(limit=2)
        if not cycles:
            raise ReportError("no cycle in the store yet: run `auditor scan` first")
        judged_at: Clock = clock
        if cycle is not None:
            if cycles[0].id != cycle.cycle_id:
                raise ReportError(
                    f"cycle {cycle.cycle_id} is no longer the latest cycle (the latest is "
                    f"{cycles[0].id}): its findings have moved on"
                )
            judged_at = FixedClock(cycles[0].evaluated_at or cycles[0].finished_at)
        snapshot = store.load_snapshot(cycles[0].id)
        previous = store.load_snapshot(cycles[1].id) if len(cycles) > 1 else None
        versions = store.baselines(baseline_arns(snapshot, baseline_kinds(rules)))
        history = with_access(build_history(versions, previous), settings, store)
        evaluation = evaluate(
            snapshot,
            rules,
            exemptions,
            judged_at,
            history=history,
            tag_policy=tag_policy(settings),
        )
        stored = store.open_findings()
        evaluation = attributed(evaluation, settings, store, stored)
        now = judged_at.now()
        tracked = [
            replace(stored[f.id], finding=f) if f.id in stored else TrackedFinding(f, now, now, 1)
            for f in evaluation.findings
        ]
        # open in the store but not re-evaluated (carried as unknown through a gap): listed too
        judged = {f.id for f in evaluation.findings}
        tracked += [
            t for fid, t in sorted(stored.items())
            if fid not in judged and t.finding.status is Status.UNKNOWN
        ]  # fmt: skip
        new = tuple(t for t in tracked if since is not None and t.first_seen >= since)
        rest = tuple(t for t in tracked if t not in new)
        decided = {a.id: a for a in store.current_decisions()}
        decided.update({a.id: a for a in store.actions_since(snapshot.started_at)})
        actions = tuple(sorted(decided.values(), key=lambda a: (a.at, a.id)))
        data = build_report_input(
            settings,
            snapshot,
            evaluation,
            FindingDelta(new=new, still_open=rest, resolved=()),
            rules,
            exemptions,
            actions,
            clock,
        )
        return replace(data, since=since)
    finally:
        if own_store:
            store.close()


def publish_latest(
    settings: Settings,
    store: Store,
    clock: Clock,
    sessions: AwsSessions | None = None,
    events_coverage: Mapping[str, Any] | None = None,
) -> Path:
    """Sign and publish a report of the latest cycle now (the report schedule)."""
    return publish_on_demand(
        settings, store, clock, sessions, events_coverage=events_coverage
    ).bundle.path


def publish_on_demand(
    settings: Settings,
    store: Store,
    clock: Clock,
    sessions: AwsSessions | None = None,
    since: datetime | None = None,
    events_coverage: Mapping[str, Any] | None = None,
) -> Published:
    """A report of the latest cycle, appended to the store's chain under its lock."""
    sessions = sessions or AwsSessions()
    signer = signer_from_settings(settings, kms_factory(sessions))
    data = report_input(settings, since=since, clock=clock, store=store)
    if events_coverage is not None:
        data = replace(data, events=events_coverage)
    with ReportChain(store, settings, sessions, clock, signer).locked() as chain:
        return chain.publish(data)


def _with_counts(result: CycleResult, api_errors: Mapping[str, int]) -> CycleResult:
    by_severity = Counter(
        f.severity.value for f in result.evaluation.findings if f.status is Status.FAIL
    )
    by_status = Counter(f.status.value for f in result.evaluation.findings)
    by_kind = Counter(r.kind.value for r in result.snapshot.resources)
    counts = {
        "resources": len(result.snapshot.resources),
        "resources_by_kind": dict(sorted(by_kind.items())),
        "api_calls": result.snapshot.total_api_calls,
        "gaps": len(result.snapshot.gaps),
        "findings_by_severity": dict(by_severity),
        "findings_by_status": dict(by_status),
        "new": len(result.delta.new),
        "open": len(result.delta.open),
        "resolved": len(result.delta.resolved),
        "actions": dict(Counter(a.status.value for a in result.actions)),
        "api_errors": dict(api_errors),
    }
    return CycleResult(
        cycle_id=result.cycle_id,
        snapshot=result.snapshot,
        evaluation=result.evaluation,
        delta=result.delta,
        actions=result.actions,
        report_dir=result.report_dir,
        alerts_sent=result.alerts_sent,
        alerts_pending=result.alerts_pending,
        duration_seconds=result.duration_seconds,
        counts=counts,
    )


def _log_cycle(result: CycleResult) -> None:
    """The canonical line: one per cycle, everything an operator greps for."""
    c = result.counts
    log.info(
        "cycle",
        cycle_id=result.cycle_id,
        duration_s=round(result.duration_seconds, 3),
        resources=c.get("resources"),
        api_calls=c.get("api_calls"),
        gaps=c.get("gaps"),
        complete=result.snapshot.complete,
        findings_new=c.get("new"),
        findings_open=c.get("open"),
        findings_resolved=c.get("resolved"),
        alerts_sent=result.alerts_sent,
        alerts_pending=result.alerts_pending,
        actions=c.get("actions"),
        report=str(result.report_dir) if result.report_dir else None,
    )

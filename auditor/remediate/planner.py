"""The pure remediation planner: (findings, snapshot, rules, config, history) -> Plan.

Nothing here calls AWS, reads the clock or the environment: the kill switch and the time
are passed in, so a plan can be replayed from stored data. Every finding whose rule has an
automatic action (or that replacement cannot fix) yields a record saying what will be done
and why, or why not. Safety checks are applied in this order, first reason wins:
exemption, unknown status, source-caused, pet, rule opt-in, K consecutive cycles,
`auditor:no-remediate` on the resource; then per group: kill switch, the tag on the group,
maintenance window, work in progress, already acted on this cycle, capacity (P%, MinSize);
then the global and per-account limits, in priority order (severity, then age).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from auditor.model import (
    JSON,
    ActionRecord,
    ActionStatus,
    Resource,
    RuleInfo,
    SnapshotView,
    Status,
    TrackedFinding,
    canonical_json,
    sha256_hex,
)
from auditor.remediate import guards
from auditor.remediate.actions import NO_ACTION
from auditor.remediate.plan import Plan, PlanItem
from auditor.remediate.requests import build_request
from auditor.remediate.targets import NoTarget, Target, resolve_target, source_of
from auditor.settings import RemediationConfig

REPLACE = "replace"


@dataclass(slots=True)
class _Bucket:
    """Findings that share one outcome (or one target group), while the plan is built."""

    target_arn: str
    target_kind: str
    action: str
    account: str
    region: str
    findings: list[TrackedFinding] = field(default_factory=list)


@dataclass(slots=True)
class _State:
    cycle_id: str
    mode: str
    now: datetime
    items: list[PlanItem] = field(default_factory=list)
    decided: dict[tuple[str, str, str, ActionStatus, str], _Bucket] = field(default_factory=dict)

    def decide(
        self, bucket: _Bucket, status: ActionStatus, reason: str, finding: TrackedFinding
    ) -> None:
        key = (bucket.target_arn, bucket.target_kind, bucket.action, status, reason)
        found = self.decided.setdefault(key, bucket)
        found.findings.append(finding)

    def emit(
        self,
        bucket: _Bucket,
        status: ActionStatus,
        reason: str,
        findings: Sequence[TrackedFinding],
        request: Mapping[str, JSON] | None = None,
        instances: tuple[str, ...] = (),
    ) -> None:
        ids = tuple(sorted({f.id for f in findings}))
        record_id = sha256_hex(
            canonical_json(
                [self.cycle_id, bucket.target_arn, bucket.action, status.value, reason, ids]
            )
        )[:32]
        record = ActionRecord(
            id=record_id,
            cycle_id=self.cycle_id,
            target_arn=bucket.target_arn,
            target_kind=bucket.target_kind,
            action=bucket.action,
            mode=self.mode,
            status=status,
            reason=reason,
            finding_ids=ids,
            account=bucket.account,
            region=bucket.region,
            at=self.now,
        )
        self.items.append(
            PlanItem(
                record=record,
                severity=max((f.finding.severity for f in findings), key=lambda s: s.rank),
                first_seen=min(f.first_seen for f in findings),
                request=dict(request or {}),
                instances=instances,
            )
        )


def _priority(findings: Sequence[TrackedFinding]) -> tuple[int, datetime]:
    return (
        -max(f.finding.severity.rank for f in findings),
        min(f.first_seen for f in findings),
    )


def _item_order(item: PlanItem) -> tuple[int, datetime, str, str, str]:
    return (
        -item.severity.rank,
        item.first_seen,
        item.record.target_arn,
        item.record.action,
        item.record.id,
    )


def _own_bucket(tracked: TrackedFinding) -> _Bucket:
    ref = tracked.finding.resource
    return _Bucket(ref.arn, str(ref.kind), NO_ACTION, ref.account, ref.region)


def _group_bucket(target: Target) -> _Bucket:
    g = target.group
    return _Bucket(g.arn, g.kind.value, target.action, g.account, g.region)


def _exempt_reason(tracked: TrackedFinding) -> str:
    ex = tracked.finding.exemption
    if ex is None:
        return "exempt: exemptions always win"
    return f"exempt until {ex.expires} (owner {ex.owner}): {ex.reason}"


def _triage(
    tracked: TrackedFinding,
    view: SnapshotView,
    rules: Mapping[str, RuleInfo],
    config: RemediationConfig,
    state: _State,
    groups: dict[str, tuple[Target, list[TrackedFinding]]],
) -> None:
    """Per finding: decide it now (held / not applicable) or add it to its group's candidates."""
    finding = tracked.finding
    rule = rules.get(finding.rule_id)
    if rule is None:
        state.decide(
            _own_bucket(tracked),
            ActionStatus.HELD,
            f"rule {finding.rule_id} is unknown to this run: never acted on",
            tracked,
        )
        return
    if rule.action != REPLACE and not rule.source_caused:
        return
    if finding.status is Status.EXEMPT:
        state.decide(_own_bucket(tracked), ActionStatus.HELD, _exempt_reason(tracked), tracked)
        return
    if finding.status is not Status.FAIL:
        state.decide(
            _own_bucket(tracked),
            ActionStatus.HELD,
            f"status {finding.status.value}: the data this rule needs was not "
            "collected; nothing is done to what could not be seen",
            tracked,
        )
        return
    resource = view.get(finding.resource.arn)
    if rule.source_caused:
        source = source_of(finding.resource, resource, view, finding.evidence)
        state.decide(
            _own_bucket(tracked),
            ActionStatus.NOT_APPLICABLE,
            f"not fixed by replacement (a replacement would recreate it): fix the source {source}",
            tracked,
        )
        return
    if resource is None:
        state.decide(
            _own_bucket(tracked),
            ActionStatus.HELD,
            f"{finding.resource.arn} is not in this snapshot: nothing is done to what "
            "could not be seen",
            tracked,
        )
        return
    target = resolve_target(resource, view, config.asg_strategy)
    if isinstance(target, NoTarget):
        state.decide(_own_bucket(tracked), target.status, target.reason, tracked)
        return
    bucket = _group_bucket(target)
    if finding.rule_id not in config.rules:
        state.decide(
            bucket,
            ActionStatus.HELD,
            f"rule {finding.rule_id} is not opted in (remediation.rules)",
            tracked,
        )
        return
    k = config.min_consecutive_cycles
    if tracked.consecutive_cycles < k:
        state.decide(
            bucket,
            ActionStatus.HELD,
            f"seen {tracked.consecutive_cycles} of the {k} consecutive cycles required "
            "(remediation.min_consecutive_cycles)",
            tracked,
        )
        return
    tagged = guards.no_remediate_tag(resource)
    if tagged:
        state.decide(bucket, ActionStatus.HELD, tagged, tracked)
        return
    groups.setdefault(target.group.arn, (target, []))[1].append(tracked)


def _group_hold(
    group: Resource,
    config: RemediationConfig,
    history: Sequence[ActionRecord],
    state: _State,
    kill_switch: bool,
    window_hold: str | None,
) -> str | None:
    if kill_switch:
        return "kill switch is on (remediation.kill_switch or AUDITOR_REMEDIATION_KILL_SWITCH)"
    tagged = guards.no_remediate_tag(group)
    if tagged:
        return tagged
    if window_hold:
        return window_hold
    busy = guards.busy(group, history, state.now)
    if busy:
        return busy
    for record in history:
        if (
            record.cycle_id == state.cycle_id
            and record.target_arn == group.arn
            and record.status is ActionStatus.EXECUTED
        ):
            return f"already acted on in this cycle ({record.action}, request {record.request_id})"
    return guards.capacity_hold(
        group, config.max_percent_per_group, config.asg_strategy == "terminate-one"
    )


def plan(
    findings: Sequence[TrackedFinding],
    view: SnapshotView,
    rules: Mapping[str, RuleInfo],
    config: RemediationConfig,
    history: Sequence[ActionRecord],
    now: datetime,
    cycle_id: str,
    kill_switch: bool,
) -> Plan:
    """Decide, for one cycle, every replacement that may run and why the others may not."""
    if config.mode == "off":
        return Plan(cycle_id=cycle_id, mode="off", items=())
    state = _State(cycle_id=cycle_id, mode=config.mode, now=now)
    groups: dict[str, tuple[Target, list[TrackedFinding]]] = {}
    for tracked in sorted(findings, key=lambda t: (_priority([t]), t.id)):
        _triage(tracked, view, rules, config, state, groups)
    for (_, _, _, status, reason), bucket in state.decided.items():
        state.emit(bucket, status, reason, bucket.findings)

    done_this_cycle = [
        r for r in history if r.cycle_id == cycle_id and r.status is ActionStatus.EXECUTED
    ]
    total = len(done_this_cycle)
    per_account: dict[str, int] = {}
    for r in done_this_cycle:
        per_account[r.account] = per_account.get(r.account, 0) + 1
    window_hold = guards.outside_windows(
        config.windows, config.window_minutes, config.timezone, now
    )

    ordered = sorted(groups.values(), key=lambda tg: (_priority(tg[1]), tg[0].group.arn))
    for target, members in ordered:
        bucket = _group_bucket(target)
        hold = _group_hold(target.group, config, history, state, kill_switch, window_hold)
        if hold:
            state.emit(bucket, ActionStatus.HELD, hold, members)
            continue
        built = build_request(
            target, members, view, config, record_key=f"{cycle_id}:{bucket.target_arn}"
        )
        if built.held_reason:
            state.emit(bucket, ActionStatus.HELD, built.held_reason, members)
            continue
        account = bucket.account
        limit = None
        if total >= config.max_actions_per_cycle:
            limit = f"max_actions_per_cycle {config.max_actions_per_cycle} reached"
        elif per_account.get(account, 0) >= config.max_actions_per_account:
            limit = (
                f"max_actions_per_account {config.max_actions_per_account} reached for "
                f"account {account}"
            )
        if limit:
            state.emit(bucket, ActionStatus.HELD, limit, members)
            continue
        if built.deferred:
            state.emit(
                bucket,
                ActionStatus.HELD,
                "terminate-one replaces one instance per group per cycle: these wait "
                "for a later cycle",
                built.deferred,
            )
        if built.unmatched:
            state.emit(
                bucket,
                ActionStatus.HELD,
                "the instance is not listed as a member of the group in this snapshot",
                built.unmatched,
            )
        total += 1
        per_account[account] = per_account.get(account, 0) + 1
        state.emit(
            bucket,
            ActionStatus.PLANNED,
            built.reason,
            built.findings,
            request=built.request,
            instances=built.instances,
        )
    return Plan(
        cycle_id=cycle_id, mode=config.mode, items=tuple(sorted(state.items, key=_item_order))
    )

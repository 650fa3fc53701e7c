"""Property tests: whatever the fleet, findings, history and config, the plan is safe."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from auditor.model import (
    ActionRecord,
    ActionStatus,
    Kind,
    Resource,
    Severity,
    SnapshotView,
    Status,
    TrackedFinding,
)
from auditor.remediate.plan import Plan
from auditor.remediate.planner import plan
from auditor.settings import RemediationConfig
from tests.conftest import NOW
from tests.remediate import builders as b

ACCOUNTS = (b.ACCOUNT, "210987654321")
REPLACE_RULES = ("ec2.max_age", "ec2.ami_age", "ecs.task_max_age", "eks.nodegroup_ami_stale")
ALL_RULES = (*REPLACE_RULES, "lt.ssh_keypair", "ecs.image_not_pinned", "ec2.imdsv2_required")
OTHER_STATUSES = (Status.EXEMPT, Status.UNKNOWN)
TAG = {"auditor:no-remediate": "yes"}
CYCLE, EARLIER_CYCLE = "cycle-1", "cycle-0"


@dataclass(frozen=True)
class World:
    resources: tuple[Resource, ...]
    findings: tuple[TrackedFinding, ...]
    history: tuple[ActionRecord, ...]
    config: RemediationConfig
    kill_switch: bool

    @property
    def view(self) -> SnapshotView:
        return b.view_of(*self.resources)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    resources: list[Resource] = []
    candidates: list[Resource] = []  # resources findings may point at
    history: list[ActionRecord] = []
    for g in range(draw(st.integers(1, 4))):
        account = draw(st.sampled_from(ACCOUNTS))
        name = f"asg{g}"
        ids = [f"i-{g}-{k}" for k in range(draw(st.integers(0, 12)))]
        states = {i: "Pending" if draw(st.integers(0, 39)) == 0 else "InService" for i in ids}
        group = b.asg(
            name,
            ids,
            desired=draw(st.integers(0, len(ids) + 1)),
            min_size=draw(st.integers(0, len(ids))),
            tags=TAG if draw(st.integers(0, 9)) == 0 else None,
            states=states,
            account=account,
            member_version=draw(st.sampled_from(["1", "2"])),
        )
        resources.append(group)
        candidates.append(group)
        for i in ids:
            tags = TAG if draw(st.integers(0, 19)) == 0 else None
            inst = b.instance(
                i, asg=name, tags=tags, account=account, launch_days_ago=draw(st.integers(1, 99))
            )
            resources.append(inst)
            candidates.append(inst)
        if not draw(st.integers(0, 4)):  # an instance the group no longer lists
            stranger = b.instance(f"i-{g}-gone", asg=name, account=account)
            resources.append(stranger)
            candidates.append(stranger)
        if ids and draw(st.booleans()):
            minutes = draw(st.integers(0, 120))
            covered = draw(st.lists(st.sampled_from([*ids, "i-gone"]), max_size=3))
            history.append(
                ActionRecord(
                    id=f"h{g}",
                    # the plan's own cycle too: a cycle replanned after acting
                    cycle_id=draw(st.sampled_from([EARLIER_CYCLE, CYCLE])),
                    target_arn=group.arn,
                    target_kind="autoscaling.group",
                    action=draw(st.sampled_from(["start_instance_refresh", "terminate_instance"])),
                    mode="enforce",
                    status=ActionStatus.EXECUTED,
                    reason="",
                    finding_ids=(),
                    account=account,
                    region=b.REGION,
                    at=NOW - timedelta(minutes=minutes),
                    request_id="r",
                    response={"instances": covered},
                )
            )
    for s in range(draw(st.integers(0, 3))):
        account = draw(st.sampled_from(ACCOUNTS))
        rollouts = draw(
            st.lists(st.sampled_from(["COMPLETED", "IN_PROGRESS", "FAILED"]), max_size=2)
        )
        svc = b.ecs_service(
            f"svc{s}",
            desired=draw(st.integers(0, 20)),
            deployments=[{"id": f"d{k}", "rolloutState": r} for k, r in enumerate(rollouts)],
            account=account,
        )
        resources.append(svc)
        candidates.append(svc)
        for t in range(draw(st.integers(0, 3))):
            task = b.ecs_task(f"t{s}-{t}", f"svc{s}", account=account)
            resources.append(task)
            candidates.append(task)
    for n in range(draw(st.integers(0, 2))):
        account = draw(st.sampled_from(ACCOUNTS))
        ng = b.nodegroup(
            "prod",
            f"ng{n}",
            status=draw(st.sampled_from(["ACTIVE", "ACTIVE", "UPDATING", "DEGRADED"])),
            desired=draw(st.integers(0, 20)),
            account=account,
        )
        node = b.instance(f"i-node{n}", nodegroup=("prod", f"ng{n}"), account=account)
        resources += [ng, node]
        candidates += [ng, node]
    for p in range(draw(st.integers(0, 3))):
        pet = b.instance(f"i-pet{p}", account=draw(st.sampled_from(ACCOUNTS)))
        resources.append(pet)
        candidates.append(pet)
    lone = b.ecs_task("lone", None)
    lt = b.launch_template()
    resources += [lone, lt]
    candidates += [lone, lt]

    findings: dict[str, TrackedFinding] = {}
    for res in candidates:
        if not draw(st.integers(0, 2)):
            continue
        f = b.tracked(
            draw(st.sampled_from(REPLACE_RULES if draw(st.integers(0, 4)) else ALL_RULES)),
            res,
            cycles=draw(st.integers(1, 4)),
            severity=draw(st.sampled_from(list(Severity))),
            status=Status.FAIL
            if draw(st.integers(0, 9))
            else draw(st.sampled_from(OTHER_STATUSES)),
            first_seen=NOW - timedelta(days=draw(st.integers(0, 30))),
        )
        findings[f.id] = f
    cfg = RemediationConfig(
        mode=draw(st.sampled_from(["enforce", "dry-run", "enforce", "off"])),
        rules=tuple(r for r in REPLACE_RULES if draw(st.integers(0, 5))),
        max_actions_per_cycle=draw(st.sampled_from([1, 2, 0, 3, 6])),
        max_actions_per_account=draw(st.sampled_from([2, 1, 6, 0])),
        max_percent_per_group=draw(st.sampled_from([50, 100, 33.3, 25, 10, 5, 0])),
        min_consecutive_cycles=draw(st.integers(1, 3)),
        asg_strategy=draw(st.sampled_from(["instance-refresh", "terminate-one"])),
        min_healthy_percentage=draw(st.integers(0, 100)),
    )
    return World(
        tuple(resources),
        tuple(findings.values()),
        tuple(history),
        cfg,
        draw(st.integers(0, 9)) == 0,
    )


def make_plan(w: World) -> Plan:
    return plan(w.findings, w.view, b.RULES, w.config, w.history, NOW, CYCLE, w.kill_switch)


def executed_this_cycle(w: World) -> list[ActionRecord]:
    return [r for r in w.history if r.cycle_id == CYCLE and r.status is ActionStatus.EXECUTED]


def in_progress(group: Resource, history: tuple[ActionRecord, ...]) -> bool:
    """An independent statement of 'something is already changing this group'."""
    a = group.attributes
    if group.kind is Kind.ECS_SERVICE:
        deps = a["deployments"]
        return len(deps) != 1 or deps[0]["rolloutState"] in ("IN_PROGRESS", "FAILED")
    if group.kind is Kind.EKS_NODEGROUP:
        return a["status"] != "ACTIVE"
    members = a["Instances"]
    if (
        any(m["LifecycleState"] != "InService" for m in members)
        or len(members) < a["DesiredCapacity"]
    ):
        return True
    present = {m["InstanceId"] for m in members}
    for r in history:
        if r.target_arn == group.arn and NOW - r.at < timedelta(hours=1):
            covered = r.response["instances"] if r.response else []
            if not covered or set(covered) & present:
                return True
    return False


def capacity(group: Resource) -> int:
    a = group.attributes
    if group.kind is Kind.ASG:
        return int(a["DesiredCapacity"])
    if group.kind is Kind.ECS_SERVICE:
        return int(a["desiredCount"])
    return int(a["scalingConfig"]["desiredSize"])


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(worlds())
def test_limits_are_never_exceeded(w: World) -> None:
    """Planned actions plus those this cycle already executed never exceed the per-cycle and
    per-account limits; one per group; never a group this cycle already acted on."""
    p = make_plan(w)
    planned = p.planned
    done = executed_this_cycle(w)
    if planned:
        assert len(planned) + len(done) <= w.config.max_actions_per_cycle
    per_account = Counter(i.record.account for i in planned)
    done_per_account = Counter(r.account for r in done)
    for account, n in per_account.items():
        assert n + done_per_account[account] <= w.config.max_actions_per_account
    assert len({i.record.target_arn for i in planned}) == len(planned)
    assert set() == {i.record.target_arn for i in planned} & {r.target_arn for r in done}


@SETTINGS
@given(worlds())
def test_off_and_kill_switch_plan_nothing(w: World) -> None:
    """mode off yields no record; the kill switch yields no planned action."""
    p = make_plan(w)
    if w.config.mode == "off":
        assert p.items == ()
    if w.kill_switch:
        assert p.planned == ()


@SETTINGS
@given(worlds())
def test_planned_actions_only_touch_healthy_idle_groups_within_percent(w: World) -> None:
    """No planned action on a busy group, a tagged group, or beyond P% of its capacity."""
    view = w.view
    cfg = w.config
    for item in make_plan(w).planned:
        group = view.get(item.record.target_arn)
        assert group is not None
        assert group.kind in (Kind.ASG, Kind.ECS_SERVICE, Kind.EKS_NODEGROUP)
        assert not in_progress(group, w.history)
        assert "auditor:no-remediate" not in group.tags
        assert math.floor(capacity(group) * cfg.max_percent_per_group / 100 + 1e-9) >= 1
        if item.record.action == "terminate_instance":
            assert len(item.instances) == 1
            assert len(group.attributes["Instances"]) - 1 >= group.attributes["MinSize"]
        if item.record.action == "start_instance_refresh":
            mhp = item.request["Preferences"]["MinHealthyPercentage"]  # type: ignore[index]
            assert mhp >= 100 - cfg.max_percent_per_group
            assert mhp >= cfg.min_healthy_percentage


@SETTINGS
@given(worlds())
def test_planned_findings_are_eligible(w: World) -> None:
    """Only failing, opted-in, K-cycle, untagged, non-pet, non-source findings are acted on."""
    by_id = {f.id: f for f in w.findings}
    view = w.view
    for item in make_plan(w).planned:
        for fid in item.record.finding_ids:
            f = by_id[fid]
            rule = b.RULES[f.finding.rule_id]
            res = view.get(f.finding.resource.arn)
            assert f.finding.status is Status.FAIL
            assert rule.action == "replace"
            assert not rule.source_caused
            assert f.finding.rule_id in w.config.rules
            assert f.consecutive_cycles >= w.config.min_consecutive_cycles
            assert res is not None
            assert "auditor:no-remediate" not in res.tags
            is_pet = res.kind is Kind.EC2_INSTANCE and not (
                res.attributes.get("AutoScalingGroupName") or res.attributes.get("EksNodegroupName")
            )
            assert not is_pet


@SETTINGS
@given(worlds())
def test_every_actionable_finding_is_accounted_for_exactly_once(w: World) -> None:
    """Each finding of a replace or source-caused rule is in exactly one record (mode on)."""
    assume(w.config.mode != "off")
    p = make_plan(w)
    seen = Counter(fid for item in p.items for fid in item.record.finding_ids)
    expected = {
        f.id
        for f in w.findings
        if b.RULES[f.finding.rule_id].action or b.RULES[f.finding.rule_id].source_caused
    }
    assert set(seen) == expected
    assert all(n == 1 for n in seen.values())


@st.composite
def eligible_worlds(draw: st.DrawFn) -> World:
    """A world where at least one action must be planned: enforce or dry-run, no kill switch,
    an idle healthy group large enough for P%, an opted-in finding persisting K cycles."""
    n = draw(st.integers(2, 12))
    ids = [f"i-{k}" for k in range(n)]
    group = b.asg("web", ids, desired=n, min_size=0)
    insts = [b.instance(i, asg="web", launch_days_ago=draw(st.integers(1, 99))) for i in ids]
    rule = draw(st.sampled_from(["ec2.max_age", "ec2.ami_age"]))
    k = draw(st.integers(1, 3))
    chosen = draw(st.lists(st.integers(0, n - 1), min_size=1, unique=True))
    findings = tuple(b.tracked(rule, insts[i], cycles=k + draw(st.integers(0, 2))) for i in chosen)
    cfg = RemediationConfig(
        mode=draw(st.sampled_from(["enforce", "dry-run"])),
        rules=(rule,),
        max_actions_per_cycle=draw(st.integers(1, 6)),
        max_actions_per_account=draw(st.integers(1, 6)),
        max_percent_per_group=draw(st.sampled_from([50, 100])),
        min_consecutive_cycles=k,
        asg_strategy=draw(st.sampled_from(["instance-refresh", "terminate-one"])),
    )
    return World((group, *insts), findings, (), cfg, False)


@SETTINGS
@given(eligible_worlds())
def test_an_eligible_finding_is_acted_on(w: World) -> None:
    """Safety never degenerates into doing nothing: the eligible group gets exactly one action."""
    p = make_plan(w)
    assert 1 == len(p.planned)
    assert {f.id for f in w.findings} == {fid for i in p.items for fid in i.record.finding_ids}

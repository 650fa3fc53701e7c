"""The planner's decisions, one safety rule at a time, on small hand-made fleets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from pydantic import ValidationError

from auditor.model import ActionRecord, ActionStatus, ExemptionRef, Severity, Status, TrackedFinding
from auditor.remediate.plan import Plan
from auditor.remediate.planner import plan
from auditor.settings import RemediationConfig
from tests.conftest import NOW
from tests.remediate import builders as b

CYCLE = "cycle-2"


def run(
    findings: Sequence[TrackedFinding],
    view: b.SnapshotView,
    cfg: RemediationConfig | None = None,
    history: Sequence[ActionRecord] = (),
    kill_switch: bool = False,
) -> Plan:
    return plan(findings, view, b.RULES, cfg or b.config(), history, NOW, CYCLE, kill_switch)


def summary(p: Plan) -> list[tuple[str, str, str]]:
    return [(i.record.status.value, i.record.action, i.record.target_arn) for i in p.items]


def asg_fleet(n: int = 4, **asg_kwargs: object) -> tuple[b.Resource, list[b.Resource]]:
    ids = [f"i-{k:04d}" for k in range(n)]
    group = b.asg("web", ids, **asg_kwargs)  # type: ignore[arg-type]
    return group, [b.instance(i, asg="web") for i in ids]


def test_asg_instance_is_replaced_by_an_instance_refresh_of_its_group() -> None:
    """An old instance in an ASG yields one refresh of the group, with the safety preferences."""
    group, insts = asg_fleet(4)
    f = b.tracked("ec2.max_age", insts[1])
    p = run([f], b.view_of(group, *insts), b.config(max_percent_per_group=25))
    [item] = p.items
    assert ("planned", "start_instance_refresh", group.arn) == summary(p)[0]
    expected = {
        "AutoScalingGroupName": "web",
        "Strategy": "Rolling",
        "Preferences": {"MinHealthyPercentage": 90, "InstanceWarmup": 300, "SkipMatching": False},
    }
    assert expected == item.request
    assert (f.id,) == item.record.finding_ids
    assert item.instances == ("i-0001",)


def test_refresh_keeps_at_most_p_percent_out_via_min_healthy_percentage() -> None:
    """MinHealthyPercentage is raised to 100 - P when that is stricter than the configured one."""
    group, insts = asg_fleet(10)
    cfg = b.config(max_percent_per_group=20, min_healthy_percentage=50)
    p = run([b.tracked("ec2.max_age", insts[0])], b.view_of(group, *insts), cfg)
    assert p.planned[0].request["Preferences"]["MinHealthyPercentage"] == 80  # type: ignore[index]


def test_stale_members_are_refreshed_with_skip_matching() -> None:
    """Instances on an older template version than the group's are the only ones replaced."""
    ids = ["i-1", "i-2"]
    group = b.asg("web", ids, resolved_version="3", member_version="2")
    insts = [b.instance(i, asg="web") for i in ids]
    p = run([b.tracked("ec2.ami_age", insts[0])], b.view_of(group, *insts))
    assert True is p.planned[0].request["Preferences"]["SkipMatching"]  # type: ignore[index]


def test_terminate_one_terminates_the_worst_oldest_instance_and_defers_the_rest() -> None:
    """terminate-one: one instance per group per cycle, without decrementing desired capacity."""
    ids = ["i-a", "i-b", "i-c", "i-d"]
    group = b.asg("web", ids, min_size=1)
    insts = [
        b.instance("i-a", asg="web", launch_days_ago=40),
        b.instance("i-b", asg="web", launch_days_ago=90),
        b.instance("i-c", asg="web", launch_days_ago=35),
        b.instance("i-d", asg="web", launch_days_ago=1),
    ]
    findings = [b.tracked("ec2.max_age", insts[k]) for k in range(3)]
    p = run(findings, b.view_of(group, *insts), b.config(asg_strategy="terminate-one"))
    [planned] = p.planned
    assert planned.request == {"InstanceId": "i-b", "ShouldDecrementDesiredCapacity": False}
    assert (findings[1].id,) == planned.record.finding_ids
    [deferred] = p.with_status(ActionStatus.HELD)
    assert {findings[0].id, findings[2].id} == set(deferred.record.finding_ids)
    assert "one instance per group per cycle" in deferred.record.reason


def test_terminate_one_never_goes_below_min_size() -> None:
    """A group at MinSize cannot lose an instance, even briefly."""
    group, insts = asg_fleet(4, min_size=4)
    p = run(
        [b.tracked("ec2.max_age", insts[0])],
        b.view_of(group, *insts),
        b.config(asg_strategy="terminate-one"),
    )
    [item] = p.items
    assert ActionStatus.HELD is item.status
    assert "below MinSize 4" in item.record.reason


def test_percent_of_capacity_rounds_down_and_holds_below_one_member() -> None:
    """10% of a 5-instance group is half an instance: rounded down to 0, so nothing runs."""
    group, insts = asg_fleet(5)
    p = run(
        [b.tracked("ec2.max_age", insts[0])],
        b.view_of(group, *insts),
        b.config(max_percent_per_group=10),
    )
    [item] = p.items
    assert ActionStatus.HELD is item.status
    assert "less than one member" in item.record.reason


def test_standalone_instance_is_a_pet_and_never_terminated() -> None:
    """An instance in no group gets a not-applicable record, never an action."""
    pet = b.instance("i-pet")
    p = run([b.tracked("ec2.max_age", pet)], b.view_of(pet))
    [item] = p.items
    assert (ActionStatus.NOT_APPLICABLE, "none", pet.arn) == (
        item.status,
        item.record.action,
        item.record.target_arn,
    )
    assert item.record.reason.startswith("pet: needs a managed replacement")


def test_source_caused_finding_names_the_source_to_fix() -> None:
    """A launch template with an SSH key is not fixed by replacing instances: fix the template."""
    lt = b.launch_template()
    p = run([b.tracked("lt.ssh_keypair", lt)], b.view_of(lt))
    [item] = p.items
    assert ActionStatus.NOT_APPLICABLE is item.status
    assert item.record.reason.endswith(f"fix the source {lt.arn}")


def test_source_caused_finding_on_an_instance_points_at_its_launch_template() -> None:
    """A source-caused rule reported on an instance names the instance's launch template."""
    group, insts = asg_fleet(2)
    inst = b.instance("i-0000", asg="web", lt_version="2")
    rules = {
        **b.RULES,
        "drift.keyed": b.rule("drift.keyed", b.Kind.EC2_INSTANCE, source_caused=True),
    }
    p = plan(
        [b.tracked("drift.keyed", inst)],
        b.view_of(group, inst, insts[1]),
        rules,
        b.config(rules=("drift.keyed",)),
        (),
        NOW,
        CYCLE,
        False,
    )
    [item] = p.items
    assert item.record.reason.endswith(
        f"fix the source arn:aws:ec2:{b.REGION}:{b.ACCOUNT}:launch-template/lt-0abc"
    )


def test_ecs_task_is_replaced_by_a_new_deployment_of_its_service() -> None:
    """An old service task yields update_service(forceNewDeployment=True) on the service."""
    svc = b.ecs_service("web")
    task = b.ecs_task("t1", "web")
    p = run([b.tracked("ecs.task_max_age", task)], b.view_of(svc, task))
    [item] = p.planned
    expected = {
        "cluster": svc.attributes["clusterArn"],
        "service": "web",
        "forceNewDeployment": True,
    }
    assert expected == item.request
    assert svc.arn == item.record.target_arn


def test_standalone_ecs_task_is_not_applicable() -> None:
    """A task no service started would not come back: reported, never stopped."""
    task = b.ecs_task("t1", None)
    p = run([b.tracked("ecs.task_max_age", task)], b.view_of(task))
    assert [("not_applicable", "none", task.arn)] == summary(p)


def test_eks_node_is_replaced_through_its_node_group_without_force() -> None:
    """A node instance maps to its managed node group; force only when configured."""
    ng = b.nodegroup("prod", "ng1")
    node = b.instance("i-node", asg="eks-ng1", nodegroup=("prod", "ng1"))
    p = run([b.tracked("ec2.max_age", node)], b.view_of(ng, node))
    [item] = p.planned
    assert (ng.arn, "update_nodegroup_version") == (item.record.target_arn, item.record.action)
    assert (
        item.request["clusterName"],
        item.request["nodegroupName"],
        item.request["force"],
    ) == ("prod", "ng1", False)
    forced = run(
        [b.tracked("ec2.max_age", node)], b.view_of(ng, node), b.config(force_nodegroup_update=True)
    )
    assert True is forced.planned[0].request["force"]


def test_mode_off_plans_nothing() -> None:
    """mode off: no record at all, not even held ones."""
    group, insts = asg_fleet(4)
    p = run([b.tracked("ec2.max_age", insts[0])], b.view_of(group, *insts), b.config(mode="off"))
    assert p.items == ()


def test_kill_switch_holds_everything() -> None:
    """With the kill switch on, an otherwise allowed action is held and says why."""
    group, insts = asg_fleet(4)
    p = run([b.tracked("ec2.max_age", insts[0])], b.view_of(group, *insts), kill_switch=True)
    [item] = p.items
    assert ActionStatus.HELD is item.status
    assert item.record.reason.startswith("kill switch is on")


def test_rule_must_be_opted_in() -> None:
    """A replace rule not listed in remediation.rules is held, not acted on."""
    group, insts = asg_fleet(4)
    p = run([b.tracked("ec2.max_age", insts[0])], b.view_of(group, *insts), b.config(rules=()))
    [item] = p.items
    assert item.record.reason == "rule ec2.max_age is not opted in (remediation.rules)"


def test_finding_must_persist_k_cycles() -> None:
    """A finding seen fewer than K consecutive cycles is held."""
    group, insts = asg_fleet(4)
    p = run([b.tracked("ec2.max_age", insts[0], cycles=1)], b.view_of(group, *insts))
    [item] = p.items
    assert ActionStatus.HELD is item.status
    assert item.record.reason.startswith("seen 1 of the 2 consecutive cycles required")


def test_exempt_finding_is_never_acted_on() -> None:
    """Exemptions win: the record names the exemption's owner and expiry."""
    group, insts = asg_fleet(4)
    f = b.tracked("ec2.max_age", insts[0], status=Status.EXEMPT)
    f = TrackedFinding(
        finding=b.Finding(
            rule_id=f.finding.rule_id,
            severity=f.finding.severity,
            status=Status.EXEMPT,
            resource=f.finding.resource,
            message="",
            evidence={},
            exemption=ExemptionRef("config", "migration", "team-x", "2027-01-31"),
        ),
        first_seen=f.first_seen,
        last_seen=f.last_seen,
        consecutive_cycles=9,
    )
    p = run([f], b.view_of(group, *insts))
    [item] = p.items
    assert item.record.reason == "exempt until 2027-01-31 (owner team-x): migration"


def test_unknown_finding_is_held() -> None:
    """Fail closed: an `unknown` finding (could not see) is never acted on."""
    group, insts = asg_fleet(4)
    p = run([b.tracked("ec2.max_age", insts[0], status=Status.UNKNOWN)], b.view_of(group, *insts))
    assert [i.status for i in p.items] == [ActionStatus.HELD]


def test_no_remediate_tag_on_resource_or_group_wins() -> None:
    """The auditor:no-remediate tag on the instance, or on its group, holds the action."""
    ids = ["i-1", "i-2", "i-3", "i-4"]
    group = b.asg("web", ids)
    tagged = b.instance("i-1", asg="web", tags={"auditor:no-remediate": "true"})
    plain = [b.instance(i, asg="web") for i in ids[1:]]
    p = run([b.tracked("ec2.max_age", tagged)], b.view_of(group, tagged, *plain))
    assert [f"tag auditor:no-remediate on {tagged.arn}"] == [i.record.reason for i in p.items]
    group_tagged = b.asg("web", ids, tags={"auditor:no-remediate": ""})
    p = run([b.tracked("ec2.max_age", plain[0])], b.view_of(group_tagged, tagged, *plain))
    assert [f"tag auditor:no-remediate on {group_tagged.arn}"] == [i.record.reason for i in p.items]


def test_rule_without_automatic_action_yields_no_record() -> None:
    """Rules with no action and not source-caused are the report's business, not the plan's."""
    group, insts = asg_fleet(4)
    assert run([b.tracked("ec2.imdsv2_required", insts[0])], b.view_of(group, *insts)).items == ()


def test_asg_with_pending_instances_is_in_progress() -> None:
    """A group with an instance not yet InService is being changed: hold."""
    group, insts = asg_fleet(4, states={"i-0002": "Pending"})
    p = run([b.tracked("ec2.max_age", insts[0])], b.view_of(group, *insts))
    [item] = p.items
    assert "in progress" in item.record.reason


def _executed(
    target: str, at_minutes_ago: int, instances: list[str], cycle: str = "cycle-1"
) -> ActionRecord:
    return ActionRecord(
        id="r1",
        cycle_id=cycle,
        target_arn=target,
        target_kind="autoscaling.group",
        action="start_instance_refresh",
        mode="enforce",
        status=ActionStatus.EXECUTED,
        reason="",
        finding_ids=(),
        account=b.ACCOUNT,
        region=b.REGION,
        at=NOW - timedelta(minutes=at_minutes_ago),
        request_id="req-1",
        response={"instances": list(instances)},
    )


def test_recent_unfinished_refresh_in_history_holds_the_group() -> None:
    """A refresh started < 1 h ago whose instances are still there is still running."""
    group, insts = asg_fleet(4)
    history = [_executed(group.arn, 20, ["i-0000"])]
    p = run([b.tracked("ec2.max_age", insts[0])], b.view_of(group, *insts), history=history)
    [item] = p.items
    assert ActionStatus.HELD is item.status
    assert "has not finished: i-0000 still in the group" in item.record.reason


def test_old_or_finished_refresh_in_history_does_not_hold() -> None:
    """A refresh older than an hour, or whose instances are gone, no longer blocks."""
    group, insts = asg_fleet(4)
    f = b.tracked("ec2.max_age", insts[0])
    old = run([f], b.view_of(group, *insts), history=[_executed(group.arn, 61, ["i-0000"])])
    gone = run([f], b.view_of(group, *insts), history=[_executed(group.arn, 5, ["i-gone"])])
    assert [
        old.items[0].status,
        gone.items[0].status,
    ] == [ActionStatus.PLANNED, ActionStatus.PLANNED]


def test_ecs_in_progress_and_circuit_breaker_hold_the_service() -> None:
    """Two deployments, an IN_PROGRESS rollout or a FAILED one (breaker tripped) all hold."""
    task = b.ecs_task("t1", "web")
    cases = {
        "a deployment is in progress (2 deployments)": [
            {"id": "d1", "rolloutState": "COMPLETED"},
            {"id": "d2", "rolloutState": "COMPLETED"},
        ],
        "a deployment is in progress (deployment d1 IN_PROGRESS)": [
            {"id": "d1", "rolloutState": "IN_PROGRESS"}
        ],
        "the deployment circuit breaker tripped (deployment d1 FAILED)": [
            {"id": "d1", "rolloutState": "FAILED"}
        ],
    }
    for reason, deployments in cases.items():
        svc = b.ecs_service("web", deployments=deployments)
        p = run([b.tracked("ecs.task_max_age", task)], b.view_of(svc, task))
        assert [reason] == [i.record.reason for i in p.items]


def test_updating_node_group_is_held() -> None:
    """A node group already UPDATING is left alone."""
    ng = b.nodegroup("prod", "ng1", status="UPDATING")
    p = run([b.tracked("eks.nodegroup_ami_stale", ng)], b.view_of(ng))
    assert [i.record.reason for i in p.items] == [
        "node group status is UPDATING: an update is in progress"
    ]


def test_limits_per_cycle_and_per_account_follow_severity_then_age() -> None:
    """The worst, then oldest findings get the few allowed actions; the rest are held."""
    groups = []
    findings = []
    for k, (sev, age, acct) in enumerate(
        [
            (Severity.LOW, 9, b.ACCOUNT),
            (Severity.CRITICAL, 1, b.ACCOUNT),
            (Severity.HIGH, 5, b.ACCOUNT),
            (Severity.HIGH, 7, "210987654321"),
        ]
    ):
        name = f"g{k}"
        group = b.asg(name, [f"i-{k}a", f"i-{k}b"], account=acct)
        inst = b.instance(f"i-{k}a", asg=name, account=acct)
        groups += [group, inst, b.instance(f"i-{k}b", asg=name, account=acct)]
        findings.append(
            b.tracked("ec2.max_age", inst, severity=sev, first_seen=NOW - timedelta(days=age))
        )
    cfg = b.config(max_actions_per_cycle=3, max_actions_per_account=2)
    p = run(findings, b.view_of(*groups), cfg)
    planned = [i.record.target_arn.rsplit("/", 1)[-1] for i in p.planned]
    assert planned == ["g1", "g3", "g2"]
    held = {
        i.record.target_arn.rsplit("/", 1)[-1]: i.record.reason
        for i in p.with_status(ActionStatus.HELD)
    }
    assert held == {"g0": "max_actions_per_cycle 3 reached"}
    p2 = run(
        findings, b.view_of(*groups), b.config(max_actions_per_cycle=9, max_actions_per_account=1)
    )
    assert [i.record.target_arn.rsplit("/", 1)[-1] for i in p2.planned] == ["g1", "g3"]


def test_maintenance_windows_in_the_configured_time_zone() -> None:
    """Inside a window (local time) the action is planned; outside it is held."""
    group, insts = asg_fleet(4)
    f = b.tracked("ec2.max_age", insts[0])
    view = b.view_of(group, *insts)
    # NOW is 12:00 UTC = 13:00 in Paris (winter)
    inside = b.config(windows=("0 13 * * *",), window_minutes=30, timezone="Europe/Paris")
    outside = b.config(windows=("0 12 * * *",), window_minutes=30, timezone="Europe/Paris")
    assert ActionStatus.PLANNED is run([f], view, inside).items[0].status
    held = run([f], view, outside).items[0]
    assert ActionStatus.HELD is held.status
    assert held.record.reason.startswith("outside the maintenance windows")


def test_bad_time_zone_or_cron_holds_everything() -> None:
    """A window that cannot be understood fails closed. The config refuses such values at
    start (exit 2); the planner still holds if one ever gets past it (model_copy skips
    validation)."""
    group, insts = asg_fleet(4)
    f = b.tracked("ec2.max_age", insts[0])
    view = b.view_of(group, *insts)
    with pytest.raises(ValidationError, match="not a known IANA time zone"):
        b.config(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="not a 5-field cron expression"):
        b.config(windows=("every day",))
    good = b.config(windows=("0 1 * * *",))
    bad_tz = run([f], view, good.model_copy(update={"timezone": "Mars/Olympus"}))
    bad_cron = run([f], view, good.model_copy(update={"windows": ("every day",)}))
    assert [
        bad_tz.items[0].status,
        bad_cron.items[0].status,
    ] == [ActionStatus.HELD, ActionStatus.HELD]


def test_plan_is_deterministic_whatever_the_input_order() -> None:
    """Same findings in another order: the very same plan, ids included."""
    group, insts = asg_fleet(6)
    pet = b.instance("i-pet")
    findings = [b.tracked("ec2.max_age", i) for i in insts] + [b.tracked("ec2.max_age", pet)]
    view = b.view_of(group, pet, *insts)
    cfg = b.config(asg_strategy="terminate-one")
    assert run(findings, view, cfg) == run(list(reversed(findings)), view, cfg)


def test_group_missing_from_snapshot_is_held() -> None:
    """An instance whose ASG could not be seen is not acted on (fail closed)."""
    inst = b.instance("i-1", asg="ghost")
    p = run([b.tracked("ec2.max_age", inst)], b.view_of(inst))
    [item] = p.items
    assert (
        item.status,
        item.record.reason,
    ) == (
        ActionStatus.HELD,
        "Auto Scaling group ghost is not in this snapshot: nothing is done to what could not be seen",
    )


def test_finding_on_an_instance_the_group_no_longer_lists_is_held() -> None:
    """An instance tagged with the group but absent from its member list is not targeted, and
    its finding is still accounted for."""
    group, insts = asg_fleet(4)
    stranger = b.instance("i-gone", asg="web")
    fs = [b.tracked("ec2.max_age", insts[0]), b.tracked("ec2.max_age", stranger)]
    p = run(fs, b.view_of(group, stranger, *insts))
    assert [("i-0000",)] == [i.instances for i in p.planned]
    [held] = p.with_status(ActionStatus.HELD)
    assert (fs[1].id,) == held.record.finding_ids
    assert "not listed as a member of the group" in held.record.reason


def test_group_already_acted_on_in_this_cycle_is_held() -> None:
    """A replanned cycle (same cycle id) never acts twice on a group, even when the first
    action's instances are already gone; the same record from an earlier cycle does not hold."""
    group, insts = asg_fleet(4)
    f = b.tracked("ec2.max_age", insts[0])
    this_cycle = [_executed(group.arn, 5, ["i-gone"], cycle=CYCLE)]
    earlier = [_executed(group.arn, 5, ["i-gone"], cycle="cycle-1")]
    held = run([f], b.view_of(group, *insts), history=this_cycle)
    planned = run([f], b.view_of(group, *insts), history=earlier)
    [item] = held.items
    assert ActionStatus.HELD is item.status
    assert "already acted on in this cycle (start_instance_refresh, request req-1)" == (
        item.record.reason
    )
    assert [ActionStatus.PLANNED] == [i.status for i in planned.items]


def test_actions_executed_earlier_in_this_cycle_count_toward_the_limits() -> None:
    """Two actions already executed by this cycle leave one of max_actions_per_cycle=3, and
    an account's executed actions count toward max_actions_per_account."""
    groups: list[b.Resource] = []
    findings = []
    for k in range(3):
        name = f"g{k}"
        group = b.asg(name, [f"i-{k}a", f"i-{k}b"])
        inst = b.instance(f"i-{k}a", asg=name)
        groups += [group, inst, b.instance(f"i-{k}b", asg=name)]
        findings.append(b.tracked("ec2.max_age", inst, first_seen=NOW - timedelta(days=9 - k)))
    done = [
        _executed(f"arn:aws:autoscaling:{b.REGION}:{b.ACCOUNT}:elsewhere/{n}", 2, [], cycle=CYCLE)
        for n in ("x", "y")
    ]
    per_cycle = run(findings, b.view_of(*groups), b.config(max_actions_per_cycle=3), done)
    per_account = run(
        findings,
        b.view_of(*groups),
        b.config(max_actions_per_cycle=9, max_actions_per_account=3),
        done,
    )
    assert 1 == len(per_cycle.planned)
    assert ["max_actions_per_cycle 3 reached"] * 2 == [
        i.record.reason for i in per_cycle.with_status(ActionStatus.HELD)
    ]
    assert 1 == len(per_account.planned)

"""Drift over time, driven through real cycles on moto: baseline, in-place change, steady."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from auditor.engine import RuleSet, build_history, evaluate, load_rules
from auditor.model import FixedClock, Kind
from auditor.settings import RulesConfig
from tests.conftest import NOW
from tests.drift.conftest import Fleet, Runner, client, failing


def _resize_pet(fleet: Fleet) -> None:
    ec2 = client("ec2")
    ec2.modify_instance_attribute(InstanceId=fleet.pet, InstanceType={"Value": "m5.large"})
    ec2.modify_instance_attribute(InstanceId=fleet.pet, SourceDestCheck={"Value": False})


def _hand_deploy(fleet: Fleet) -> str:
    ecs = client("ecs")
    td = ecs.register_task_definition(
        family="web",
        containerDefinitions=[
            {"name": "web", "image": "public.ecr.aws/nginx/nginx:hotfix", "memory": 128}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster="prod", service="web", taskDefinition=td)
    return str(td)


def _new_default_version(fleet: Fleet) -> None:
    ec2 = client("ec2")
    version = ec2.create_launch_template_version(
        LaunchTemplateId=fleet.template_id,
        SourceVersion="1",
        LaunchTemplateData={"ImageId": fleet.amis[1]},
    )["LaunchTemplateVersion"]["VersionNumber"]
    ec2.modify_launch_template(LaunchTemplateId=fleet.template_id, DefaultVersion=str(version))


def test_first_cycle_has_no_drift(fleet: Fleet, make_runner: Callable[..., Runner]) -> None:
    """Everything is seen for the first time: no drift, and stale members only if they are."""
    result = make_runner().cycle()
    assert {} == failing(result)


def test_in_place_changes_are_drift_with_field_evidence(
    fleet: Fleet, make_runner: Callable[..., Runner]
) -> None:
    """Resize + source/dest check, a hand-deployed revision and a moved $Default are each
    reported with field-level evidence; a third unchanged cycle keeps them open, not new."""
    runner = make_runner()
    first = runner.cycle()
    _resize_pet(fleet)
    new_td = _hand_deploy(fleet)
    _new_default_version(fleet)
    second = runner.cycle()

    found = failing(second)
    members = {("asg.instance_stale", i) for i in fleet.group_instances}
    assert {
        ("drift.ec2_modified_in_place", fleet.pet),
        ("drift.ecs_service_modified", "prod/web"),
        ("drift.lt_default_changed", fleet.template_id),
    } | members == set(found)

    pet = found[("drift.ec2_modified_in_place", fleet.pet)]
    assert [
        {"field": "InstanceType", "baseline": "t3.small", "current": "m5.large"},
        {"field": "SourceDestCheck", "baseline": True, "current": False},
    ] == pet.evidence["changes"]
    assert {"snapshot_id": first.cycle_id, "first_seen": "2026-11-22T12:00:00+00:00"} == (
        pet.evidence["baseline"]
    )
    service = found[("drift.ecs_service_modified", "prod/web")]
    assert [{"field": "taskDefinition", "baseline": fleet.task_definition, "current": new_td}] == (
        service.evidence["changes"]
    )
    moved = found[("drift.lt_default_changed", fleet.template_id)].evidence["moved"]
    assert [
        {"alias": "$Default", "previous_version": 1, "current_version": 2, "groups": ["web"]}
    ] == moved
    stale = found[("asg.instance_stale", fleet.group_instances[0])].evidence["differences"]
    assert [{"field": "ImageId", "instance": fleet.amis[0], "template": fleet.amis[1]}] == stale

    third = runner.cycle()
    ids = {f.id for f in second.delta.new if f.finding.rule_id in _rules(found)}
    # the alias move is an event of the cycle that saw it; everything else stays open
    assert {f.id for f in third.delta.resolved} == {
        found[("drift.lt_default_changed", fleet.template_id)].id
    }
    still = {t.id for t in third.delta.still_open}
    assert ids - {found[("drift.lt_default_changed", fleet.template_id)].id} <= still
    assert [] == [t for t in third.delta.new if t.finding.rule_id in _rules(found)]
    pet_again = next(t for t in third.delta.still_open if t.id == pet.id)
    assert (2, pet_again.first_seen) == (pet_again.consecutive_cycles, second.snapshot.finished_at)


def _rules(found: dict[tuple[str, str], Any]) -> set[str]:
    return {rule for rule, _ in found}


def test_volatile_changes_are_not_drift(fleet: Fleet, make_runner: Callable[..., Runner]) -> None:
    """Stopping an instance (state, addresses, transition reason) changes nothing watched."""
    runner = make_runner()
    runner.cycle()
    client("ec2").stop_instances(InstanceIds=[fleet.pet])
    assert {} == failing(runner.cycle(), ("drift.ec2_modified_in_place",))


def test_a_gone_resource_is_history_not_drift(
    fleet: Fleet, make_runner: Callable[..., Runner]
) -> None:
    """A terminated instance disappears from the snapshot: no drift finding, and its
    history (the first version) is still in the store."""
    runner = make_runner()
    runner.cycle()
    client("ec2").terminate_instances(InstanceIds=[fleet.pet])
    result = runner.cycle()
    assert {} == failing(result, ("drift.ec2_modified_in_place",))
    arn = f"arn:aws:ec2:us-east-1:123456789012:instance/{fleet.pet}"
    assert [arn] == [v.arn for v in runner.store.resource_versions(arn)]


def test_nodegroup_changed_without_version_update(
    aws: None, make_runner: Callable[..., Runner]
) -> None:
    """moto has no UpdateNodegroupVersion: the collected node group's next version is built
    by hand, and compared with its baseline as the store returns it."""
    eks = client("eks")
    role = "arn:aws:iam::123456789012:role/eks"
    eks.create_cluster(name="prod", roleArn=role, resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    eks.create_nodegroup(
        clusterName="prod", nodegroupName="workers", nodeRole=role, subnets=["subnet-1"]
    )
    runner = make_runner(services=("eks",))
    runner.cycle()
    first = runner.store.latest_snapshot()
    assert first is not None
    (group,) = [r for r in first.resources if r.kind is Kind.EKS_NODEGROUP]
    rules = RuleSet((load_rules(RulesConfig()).get("drift.eks_nodegroup_modified"),))  # type: ignore[arg-type]
    history = build_history(runner.store.baselines([group.arn]), first)

    def evaluated(**attrs: Any) -> list[Any]:
        changed = replace(group, attributes={**group.attributes, **attrs})
        snap = replace(first, id="next", resources=(changed,))
        result = evaluate(snap, rules, (), FixedClock(NOW), history=history)
        return [dict(f.evidence) for f in result.findings]

    old_release = group.attributes.get("releaseVersion")
    (evidence,) = evaluated(releaseVersion="1.31.0-20990101")
    assert [
        {"field": "releaseVersion", "baseline": old_release, "current": "1.31.0-20990101"}
    ] == evidence["changes"]
    assert first.id == evidence["baseline"]["snapshot_id"]
    assert [] == evaluated(releaseVersion="1.32.0-20990101", version="1.32")

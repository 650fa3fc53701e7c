"""The event feed end to end: a change made by hand on a moto server, its CloudTrail event
routed by an EventBridge rule to a real SQS queue, one micro-cycle -> the finding with its
actor, committed; the message deleted only then."""

from __future__ import annotations

import pytest

from auditor.model import Kind
from tests.events import cloudtrail as ct
from tests.events.conftest import World

pytestmark = pytest.mark.slow


def _instance_in_group(world: World) -> str:
    groups = world.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["web"])
    return str(groups["AutoScalingGroups"][0]["Instances"][0]["InstanceId"])


def test_instance_type_changed_in_place_is_drift_with_its_actor(world: World) -> None:
    """ModifyInstanceAttribute (instance type) -> drift.ec2_modified_in_place, changed by alice."""
    pet = world.ids["pet"]
    ec2 = world.client("ec2")
    ec2.stop_instances(InstanceIds=[pet])
    ec2.modify_instance_attribute(InstanceId=pet, InstanceType={"Value": "t3.large"})
    assert world.open("drift.ec2_modified_in_place") == []
    world.put(ct.modify_instance_type(pet, "t3.large", event_id="ev-modify"))

    result = world.poll()

    (finding,) = world.open("drift.ec2_modified_in_place")
    assert finding.finding.resource.id == pet
    who = finding.finding.evidence["changed_by"]
    assert (who["principal_arn"], who["event_name"], who["event_id"]) == (
        ct.ALICE, "ModifyInstanceAttribute", "ev-modify",
    )  # fmt: skip
    assert (who["actor"], who["source_ip"], who["session_issuer"]) == (
        "alice@example.com", "203.0.113.7", ct.ISSUER,
    )  # fmt: skip
    assert (result.received, result.deleted, world.waiting()) == (1, 1, 0)
    slack = "\n".join(world.capture.previews)
    assert "changed by alice@example.com via ModifyInstanceAttribute" in slack


def test_task_definition_registered_and_deployed_by_hand(world: World) -> None:
    """RegisterTaskDefinition + UpdateService by hand -> drift.ecs_service_modified, with actor."""
    ecs = world.client("ecs")
    definition = ecs.register_task_definition(
        family="web",
        containerDefinitions=[{"name": "app", "image": "nginx:1.28", "memory": 128}],
    )["taskDefinition"]
    service = ecs.update_service(
        cluster="prod", service="web", taskDefinition=definition["taskDefinitionArn"]
    )["service"]
    world.put(ct.register_task_definition(definition, event_id="ev-register"))
    world.put(ct.update_service(service, "prod", event_id="ev-update"))

    result = world.poll()

    (finding,) = world.open("drift.ecs_service_modified")
    assert finding.finding.resource.arn == world.ids["service"]
    assert finding.finding.evidence["changed_by"]["event_id"] == "ev-update"
    assert (result.received, result.deleted) == (2, 2)


def test_launch_template_version_moving_latest_under_a_group(world: World) -> None:
    """CreateLaunchTemplateVersion while a group launches $Latest -> drift.lt_default_changed."""
    lt = world.ids["lt"]
    world.client("ec2").create_launch_template_version(
        LaunchTemplateId=lt, SourceVersion="1", LaunchTemplateData={"InstanceType": "m5.large"}
    )
    world.put(ct.create_launch_template_version(lt, 2, event_id="ev-ltv"))

    world.poll()

    (finding,) = world.open("drift.lt_default_changed")
    assert finding.finding.resource.id == lt
    assert finding.finding.evidence["changed_by"]["event_name"] == "CreateLaunchTemplateVersion"


def test_ssh_opened_to_the_world_on_a_group_in_use(world: World) -> None:
    """AuthorizeSecurityGroupIngress port 22 from 0.0.0.0/0 -> sg.ssh_open_world, with actor."""
    sg = world.ids["sg"]
    world.client("ec2").authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    world.put(ct.authorize_ssh(sg, event_id="ev-sg"))

    world.poll()

    (finding,) = world.open("sg.ssh_open_world")
    assert finding.finding.resource.id == sg
    assert finding.finding.evidence["changed_by"]["principal_arn"] == ct.ALICE


@pytest.mark.parametrize(
    ("rule", "make", "kind"),
    [
        ("access.ssm_session", ct.start_session, Kind.EC2_INSTANCE),
        ("access.instance_connect", ct.send_ssh_public_key, Kind.EC2_INSTANCE),
        ("access.ecs_exec", None, Kind.ECS_TASK),
    ],
)
def test_a_shell_on_a_running_thing_is_a_finding(world: World, rule: str, make, kind: Kind) -> None:  # type: ignore[no-untyped-def]
    """StartSession / SendSSHPublicKey / ExecuteCommand -> access.* finding: who, when, session."""
    if kind is Kind.ECS_TASK:
        detail = ct.execute_command(world.ids["task"], world.ids["cluster"], event_id="ev-shell")
        target = world.ids["task"]
    else:
        instance = _instance_in_group(world)
        detail = make(instance, event_id="ev-shell")
        target = f"arn:aws:ec2:{ct.REGION}:{ct.ACCOUNT}:instance/{instance}"
    world.put(detail)

    world.poll()

    (finding,) = world.open(rule)
    assert finding.finding.resource.arn == target
    assert finding.finding.severity.value == "high"
    (session,) = finding.finding.evidence["sessions"]
    assert (session["principal_arn"], session["event_id"]) == (ct.ALICE, "ev-shell")
    assert session["session_id"]
    # the next full cycle keeps it: the shell was recorded with the micro-cycle
    from auditor.pipeline import run_cycle

    run_cycle(world.settings, store=world.store, options=world.cycler.options)
    assert [t.id for t in world.open(rule)] == [finding.id]


def test_duplicate_and_out_of_order_events_are_harmless(world: World) -> None:
    """The same event twice (at-least-once) and an older call arriving last: one finding,
    attributed to the latest call by event time; every message deleted."""
    from datetime import UTC, datetime, timedelta

    pet = world.ids["pet"]
    ec2 = world.client("ec2")
    ec2.stop_instances(InstanceIds=[pet])
    ec2.modify_instance_attribute(InstanceId=pet, InstanceType={"Value": "t3.large"})
    now = datetime.now(UTC)
    newer = ct.modify_instance_type(pet, "t3.large", event_id="ev-new", at=now)
    older = ct.modify_instance_type(
        pet, "t3.medium", event_id="ev-old", at=now - timedelta(minutes=3), principal=ct.BREAK_GLASS
    )
    world.put(newer)
    world.put(newer)
    world.poll()
    world.put(older)
    world.put(newer)  # redelivered after it was handled

    result = world.poll()

    (finding,) = world.open("drift.ec2_modified_in_place")
    assert finding.finding.evidence["changed_by"]["event_id"] == "ev-new"
    assert finding.consecutive_cycles == 2
    assert result.duplicates == 1
    assert world.waiting() == 0


def test_a_poison_message_is_dead_lettered_and_does_not_block(world: World) -> None:
    """Not an event: sent to the dead-letter queue and deleted; the good event is handled."""
    pet = world.ids["pet"]
    world.send("this is not an event")
    ec2 = world.client("ec2")
    ec2.stop_instances(InstanceIds=[pet])
    ec2.modify_instance_attribute(InstanceId=pet, InstanceType={"Value": "t3.large"})
    world.put(ct.modify_instance_type(pet, "t3.large"))

    result = world.poll()

    assert (result.poison, result.deleted) == (1, 1)
    assert len(world.open("drift.ec2_modified_in_place")) == 1
    assert (world.waiting(), world.waiting(world.ids["dlq"])) == (0, 1)


def test_a_micro_cycle_resolves_only_what_it_looked_at(world: World) -> None:
    """Fail closed: an event on one instance never resolves findings on others."""
    before = {t.id for t in world.store.open_findings().values()}
    assert before  # the seeded fleet has open findings (e.g. AMI unknown, unmanaged pet)
    instance = _instance_in_group(world)
    world.send(ct.body(ct.start_session(instance)))

    result = world.poll()

    assert result.micro is not None
    assert result.micro.cycle is not None
    resolved = result.micro.cycle.delta.resolved
    after = {t.id for t in world.store.open_findings().values()}
    assert resolved == ()
    assert before <= after


def test_a_terminated_instance_resolves_its_findings(world: World) -> None:
    """A named resource that is gone is in scope: its findings resolve."""
    pet = world.ids["pet"]
    arn = f"arn:aws:ec2:{ct.REGION}:{ct.ACCOUNT}:instance/{pet}"
    mine = {t.id for t in world.store.open_findings().values() if t.finding.resource.arn == arn}
    assert mine
    world.client("ec2").terminate_instances(InstanceIds=[pet])
    world.send(json_dumps(ct.instance_state_change(pet, "terminated")))

    world.poll()

    still = {t.id for t in world.store.open_findings().values() if t.finding.resource.arn == arn}
    assert still == set()


def json_dumps(value: object) -> str:
    import json

    return json.dumps(value)


def test_phoenix_after_access_is_planned_under_the_same_limits(make_world) -> None:  # type: ignore[no-untyped-def]
    """access.* opted in to remediation: the micro-cycle plans the replacement of the touched
    group member (dry-run: recorded, no mutating call); a pet is never replaced."""
    world = make_world()
    world.settings = world.settings.model_copy(
        update={
            "remediation": world.settings.remediation.model_copy(
                update={
                    "rules": ("access.ssm_session",),
                    "min_consecutive_cycles": 1,
                    "max_percent_per_group": 100,
                }
            )
        }
    )
    world.cycler.settings = world.settings
    member, pet = _instance_in_group(world), world.ids["pet"]
    world.put(ct.start_session(member))
    world.put(ct.start_session(pet))

    result = world.poll()

    assert result.micro is not None
    assert result.micro.cycle is not None
    access = {
        t.id for t in result.micro.cycle.delta.new if t.finding.rule_id == "access.ssm_session"
    }
    actions = sorted(
        (a.target_kind, a.action, a.status.value, a.mode)
        for a in result.micro.cycle.actions
        if access.intersection(a.finding_ids)
    )
    assert actions == [
        ("autoscaling.group", "start_instance_refresh", "planned", "dry-run"),
        ("ec2.instance", "none", "not_applicable", "dry-run"),
    ]
    world.store.close()


def test_an_event_about_nothing_audited_commits_no_cycle(world: World) -> None:
    """A refused call, or a resource outside the configured scope: deleted, no cycle row."""
    refused = ct.modify_instance_type(world.ids["pet"], "t3.large")
    refused["errorCode"] = "Client.UnauthorizedOperation"
    world.put(refused)
    elsewhere = ct.modify_instance_type("i-0fffffffffffffff0", "t3.large")
    elsewhere["awsRegion"] = "ap-south-1"
    world.send(ct.body(elsewhere).replace('"region": "us-east-1"', '"region": "ap-south-1"'))
    cycles = len(world.store.list_cycles())

    result = world.poll()

    assert (result.received, result.deleted) == (2, 2)
    assert result.micro is not None
    assert result.micro.cycle is None
    assert len(world.store.list_cycles()) == cycles

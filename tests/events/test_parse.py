"""Event JSON -> the resources it names and who did it (pure)."""

from __future__ import annotations

import json

import pytest

from auditor.events.parse import PoisonEvent, parse_event, parse_message
from auditor.model import Kind
from tests.events import cloudtrail as ct

INSTANCE = "i-0123456789abcdef0"
ARN = f"arn:aws:ec2:{ct.REGION}:{ct.ACCOUNT}:instance/{INSTANCE}"


def test_modify_instance_attribute_names_the_instance_and_the_caller() -> None:
    """Attribution: principal, SSO user, session issuer, call, time, source IP, user agent."""
    detail = ct.modify_instance_type(INSTANCE, "t3.large", event_id="ev-1")
    event = parse_message(ct.body(detail))
    assert [(t.kind, t.id, t.arn) for t in event.targets] == [(Kind.EC2_INSTANCE, INSTANCE, ARN)]
    who = event.attribution
    assert who is not None
    assert (who.event_id, who.event_name, who.principal_arn) == (
        "ev-1",
        "ModifyInstanceAttribute",
        ct.ALICE,
    )
    assert (who.sso_user, who.session_issuer) == ("alice@example.com", ct.ISSUER)
    assert (who.source_ip, who.user_agent) == ("203.0.113.7", ct.AGENT)
    assert who.actor == "alice@example.com"


@pytest.mark.parametrize(
    ("detail", "kind", "target_id"),
    [
        (ct.authorize_ssh("sg-0abc"), Kind.EC2_SECURITY_GROUP, "sg-0abc"),
        (ct.create_launch_template_version("lt-0abc", 2), Kind.EC2_LAUNCH_TEMPLATE, "lt-0abc"),
        (
            ct.update_service(
                {
                    "serviceName": "web",
                    "serviceArn": f"arn:aws:ecs:{ct.REGION}:{ct.ACCOUNT}:service/prod/web",
                    "clusterArn": f"arn:aws:ecs:{ct.REGION}:{ct.ACCOUNT}:cluster/prod",
                    "taskDefinition": "web:2",
                },
                "prod",
            ),
            Kind.ECS_SERVICE,
            "prod/web",
        ),
        (
            ct.register_task_definition(
                {
                    "family": "web",
                    "revision": 2,
                    "taskDefinitionArn": f"arn:aws:ecs:{ct.REGION}:{ct.ACCOUNT}:task-definition/web:2",
                    "containerDefinitions": [{"name": "app", "image": "nginx:1.27"}],
                }
            ),
            Kind.ECS_TASK_DEFINITION,
            "web:2",
        ),
    ],
)
def test_every_change_call_names_its_resource(detail: dict, kind: Kind, target_id: str) -> None:
    event = parse_message(ct.body(detail))
    assert [(t.kind, t.id) for t in event.targets] == [(kind, target_id)]
    assert event.access == ()


def test_shells_are_access_records_without_any_token() -> None:
    """StartSession / SendSSHPublicKey / ExecuteCommand: target, session id; tokens never kept."""
    task = f"arn:aws:ecs:{ct.REGION}:{ct.ACCOUNT}:task/prod/0123abcd"
    cluster = f"arn:aws:ecs:{ct.REGION}:{ct.ACCOUNT}:cluster/prod"
    cases = [
        (ct.start_session(INSTANCE), "ssm_session", ARN, "alice@example.com-0a1b2c3d4e5f67890"),
        (
            ct.send_ssh_public_key(INSTANCE),
            "instance_connect",
            ARN,
            "7f3e0c1a-0b1d-4c5e-9f21-3d2a1b0c9e8f",
        ),
        (ct.execute_command(task, cluster), "ecs_exec", task, "ecs-execute-command-0a1b2c3d4e5f6"),
    ]
    for detail, kind, target, session in cases:
        event = parse_message(ct.body(detail))
        assert [(a.kind, a.target_arn, a.session_id) for a in event.access] == [
            (kind, target, session)
        ]
        assert "hidden" not in repr(event).lower()
        assert "AAAAC3Nza" not in repr(event)


def test_a_refused_call_changes_nothing() -> None:
    detail = ct.modify_instance_type(INSTANCE, "t3.large")
    detail["errorCode"] = "Client.UnauthorizedOperation"
    event = parse_message(ct.body(detail))
    assert (event.targets, event.failed_call) == ((), True)


def test_service_event_names_the_instance() -> None:
    event = parse_event(ct.instance_state_change(INSTANCE, "stopped"))
    assert [(t.kind, t.id) for t in event.targets] == [(Kind.EC2_INSTANCE, INSTANCE)]
    assert event.attribution is None


@pytest.mark.parametrize(
    "text",
    ["not json", "[1, 2]", json.dumps({"detail-type": "x"}),
     json.dumps(ct.envelope({**ct.modify_instance_type(INSTANCE, "t3.large"), "eventTime": "yesterday"})),
     json.dumps({**ct.envelope(ct.modify_instance_type(INSTANCE, "t3.large")), "account": "",
                 "detail": {"eventName": "X"}})],
)  # fmt: skip
def test_poison_messages_are_named_as_such(text: str) -> None:
    with pytest.raises(PoisonEvent):
        parse_message(text)

"""Request shapes of the actions moto does not implement, checked with botocore's Stubber."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from auditor.model import ActionStatus, FixedClock
from auditor.remediate.executor import execute
from auditor.remediate.planner import plan
from tests.conftest import NOW
from tests.remediate import builders as b


@pytest.fixture
def stubbed() -> Iterator[dict[str, tuple[Any, Stubber]]]:
    clients = {}
    for service in ("autoscaling", "eks", "ecs"):
        client = boto3.client(service, region_name=b.REGION)
        stubber = Stubber(client)
        stubber.activate()
        clients[service] = (client, stubber)
    yield clients
    for _, stubber in clients.values():
        stubber.deactivate()


def client_for(clients: dict[str, tuple[Any, Stubber]]) -> Any:
    def get(account: str, region: str, service: str) -> Any:
        assert (b.ACCOUNT, b.REGION) == (account, region)
        return clients[service][0]

    return get


def test_start_instance_refresh_request_shape(stubbed: dict[str, tuple[Any, Stubber]]) -> None:
    """The refresh is sent with MinHealthyPercentage, InstanceWarmup and SkipMatching, and the
    request id and refresh id are recorded."""
    ids = [f"i-{k}" for k in range(10)]
    group = b.asg("web", ids)
    insts = [b.instance(i, asg="web") for i in ids]
    cfg = b.config(max_percent_per_group=20, min_healthy_percentage=90, instance_warmup_seconds=120)
    p = plan(
        [b.tracked("ec2.max_age", insts[3])],
        b.view_of(group, *insts),
        b.RULES,
        cfg,
        (),
        NOW,
        "c1",
        False,
    )
    _, stubber = stubbed["autoscaling"]
    stubber.add_response(
        "start_instance_refresh",
        {"InstanceRefreshId": "ir-123", "ResponseMetadata": {"RequestId": "req-abc"}},
        {
            "AutoScalingGroupName": "web",
            "Strategy": "Rolling",
            "Preferences": {
                "MinHealthyPercentage": 90,
                "InstanceWarmup": 120,
                "SkipMatching": False,
            },
        },
    )
    [record] = execute(p, client_for(stubbed), "enforce", FixedClock(NOW), environ={})
    stubber.assert_no_pending_responses()
    assert (ActionStatus.EXECUTED, "req-abc") == (record.status, record.request_id)
    assert record.response is not None
    assert {"InstanceRefreshId": "ir-123"} == record.response["response"]
    assert ["i-3"] == record.response["instances"]


def test_update_nodegroup_version_request_shape(stubbed: dict[str, tuple[Any, Stubber]]) -> None:
    """The node group update names cluster and node group, force only when configured, and an
    idempotency token (a retried cycle does not start a second update)."""
    ng = b.nodegroup("prod", "ng1")
    f = b.tracked("eks.nodegroup_ami_stale", ng)
    for force in (False, True):
        cfg = b.config(force_nodegroup_update=force)
        p = plan([f], b.view_of(ng), b.RULES, cfg, (), NOW, "c1", False)
        token = p.planned[0].request["clientRequestToken"]
        assert isinstance(token, str)
        assert 32 == len(token)
        _, stubber = stubbed["eks"]
        stubber.add_response(
            "update_nodegroup_version",
            {"update": {"id": "u-1", "status": "InProgress", "type": "VersionUpdate"}},
            {
                "clusterName": "prod",
                "nodegroupName": "ng1",
                "force": force,
                "clientRequestToken": token,
            },
        )
        [record] = execute(p, client_for(stubbed), "enforce", FixedClock(NOW), environ={})
        stubber.assert_no_pending_responses()
        assert ActionStatus.EXECUTED is record.status


def test_a_failure_is_recorded_and_does_not_stop_the_others(
    stubbed: dict[str, tuple[Any, Stubber]],
) -> None:
    """An AWS error becomes a failed record with its code and message; the next action runs."""
    ids = [f"i-{k}" for k in range(4)]
    group = b.asg("web", ids)
    insts = [b.instance(i, asg="web") for i in ids]
    svc = b.ecs_service("api")
    task = b.ecs_task("t1", "api")
    findings = [
        b.tracked("ec2.max_age", insts[0], severity=b.Severity.CRITICAL),
        b.tracked("ecs.task_max_age", task, severity=b.Severity.LOW),
    ]
    p = plan(
        findings, b.view_of(group, svc, task, *insts), b.RULES, b.config(), (), NOW, "c1", False
    )
    assert ["start_instance_refresh", "force_new_deployment"] == [
        i.record.action for i in p.planned
    ]
    stubbed["autoscaling"][1].add_client_error(
        "start_instance_refresh",
        service_error_code="InstanceRefreshInProgress",
        service_message="An Instance Refresh is already in progress",
    )
    stubbed["ecs"][1].add_response(
        "update_service",
        {"service": {"serviceName": "api"}, "ResponseMetadata": {"RequestId": "req-ecs"}},
        {"cluster": svc.attributes["clusterArn"], "service": "api", "forceNewDeployment": True},
    )
    failed, done = execute(p, client_for(stubbed), "enforce", FixedClock(NOW), environ={})
    assert (ActionStatus.FAILED, ActionStatus.EXECUTED) == (failed.status, done.status)
    assert (
        "autoscaling:StartInstanceRefresh failed: InstanceRefreshInProgress: "
        "An Instance Refresh is already in progress"
    ) == failed.reason
    assert "req-ecs" == done.request_id


def test_kill_switch_set_after_planning_stops_execution(
    stubbed: dict[str, tuple[Any, Stubber]],
) -> None:
    """AUDITOR_REMEDIATION_KILL_SWITCH=1 at execution time holds every planned item: no call."""
    ng = b.nodegroup("prod", "ng1")
    p = plan(
        [b.tracked("eks.nodegroup_ami_stale", ng)],
        b.view_of(ng),
        b.RULES,
        b.config(),
        (),
        NOW,
        "c1",
        False,
    )
    [record] = execute(
        p,
        client_for(stubbed),
        "enforce",
        FixedClock(NOW),
        environ={"AUDITOR_REMEDIATION_KILL_SWITCH": "1"},
    )
    stubbed["eks"][1].assert_no_pending_responses()
    assert ActionStatus.HELD is record.status
    assert "kill switch" in record.reason

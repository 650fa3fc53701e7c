"""Instance user data: redacted at the edge, read once per boot, and a gap when denied."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from auditor.aws import ApiCallCounter
from auditor.collect.base import CollectResult, PreviousState, UnitContext
from auditor.collect.ec2 import collect_ec2
from auditor.model import Kind, Resource, Scope, Service, Snapshot, canonical_json

ACCOUNT = "123456789012"
REGION = "us-east-1"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
DB_PASSWORD = "correct-horse-battery-staple-42"
USER_DATA = f"""#!/bin/bash
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export AWS_SECRET_ACCESS_KEY={AWS_SECRET}
DB_PASSWORD={DB_PASSWORD}
systemctl start app
"""


@pytest.fixture(autouse=True)
def _no_default_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's 1,300 public AMIs take seconds to load per test; none are needed here."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


def _run(ctx: UnitContext, **kwargs: Any) -> str:
    inst = ctx.client("ec2").run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, **kwargs)
    return str(inst["Instances"][0]["InstanceId"])


def _instances(result: CollectResult) -> dict[str, Resource]:
    return {r.id: r for r in result.resources if r.kind is Kind.EC2_INSTANCE}


def _snapshot(result: CollectResult) -> Snapshot:
    at = result.resources[0].observed_at if result.resources else None
    assert at is not None
    return Snapshot(
        id="cold",
        started_at=at,
        finished_at=at,
        scope=Scope((ACCOUNT,), (REGION,), (Service.EC2,)),
        resources=result.resources,
        gaps=result.gaps,
        api_calls={},
    )


def _user_data_calls(counter: ApiCallCounter) -> int:
    return counter.calls.get("ec2:DescribeInstanceAttribute", 0)


def test_user_data_secrets_are_redacted(make_ctx: Callable[..., UnitContext]) -> None:
    """Secrets in user data are reported by line, detector and hash; the values never reach
    a Resource (neither its repr nor its JSON)."""
    ctx = make_ctx()
    instance_id = _run(ctx, UserData=USER_DATA)

    result = collect_ec2(ctx)

    user_data = _instances(result)[instance_id].attributes["UserData"]
    assert user_data["present"] is True
    assert user_data["size"] == len(USER_DATA.encode())
    lines = {s["location"] for s in user_data["secrets"]}
    assert {"line 3 AWS_SECRET_ACCESS_KEY", "line 4 DB_PASSWORD"} <= lines
    for resource in result.resources:
        for text in (repr(resource), canonical_json(resource.config_document())):
            assert AWS_SECRET not in text
            assert DB_PASSWORD not in text


def test_warm_collection_reuses_user_data(
    make_ctx: Callable[..., UnitContext], counter: ApiCallCounter
) -> None:
    """A second cycle over running instances makes no DescribeInstanceAttribute call and
    reports the same user data."""
    ctx = make_ctx()
    ids = [_run(ctx, UserData=f"echo {n}") for n in range(3)]
    cold = collect_ec2(ctx)
    assert _user_data_calls(counter) == 3

    previous = PreviousState.from_snapshot(_snapshot(cold))
    warm = collect_ec2(make_ctx(previous=previous))

    assert _user_data_calls(counter) == 3
    for instance_id in ids:
        expected = _instances(cold)[instance_id].attributes["UserData"]
        assert _instances(warm)[instance_id].attributes["UserData"] == expected


def test_stopped_instance_user_data_is_read_again(
    make_ctx: Callable[..., UnitContext], counter: ApiCallCounter
) -> None:
    """User data can be edited while an instance is stopped, so a stopped instance is re-read
    and its new user data seen, while the running one is still reused."""
    ctx = make_ctx()
    ec2 = ctx.client("ec2")
    stopped, running = _run(ctx, UserData="echo v1"), _run(ctx, UserData="echo same")
    cold = collect_ec2(ctx)
    ec2.stop_instances(InstanceIds=[stopped])
    # like the AWS CLI: the API wants base64 text inside the (SDK-encoded) blob
    ec2.modify_instance_attribute(
        InstanceId=stopped, UserData={"Value": base64.b64encode(b"echo v2")}
    )
    calls_before = _user_data_calls(counter)

    warm = collect_ec2(make_ctx(previous=PreviousState.from_snapshot(_snapshot(cold))))

    assert _user_data_calls(counter) - calls_before == 1
    old = _instances(cold)[stopped].attributes["UserData"]
    new = _instances(warm)[stopped].attributes["UserData"]
    assert new["sha256"] != old["sha256"]
    assert new["size"] == len(b"echo v2")
    assert _instances(warm)[running].attributes == _instances(cold)[running].attributes


def test_denied_user_data_is_unavailable_for_that_instance_only(
    make_ctx: Callable[..., UnitContext],
) -> None:
    """AccessDenied on one instance's user data keeps the instance, marks UserData
    unavailable, and records a gap naming that instance; the others are complete."""
    ctx = make_ctx()
    denied, fine = _run(ctx, UserData="echo a"), _run(ctx, UserData="echo b")

    def refuse(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "DescribeInstanceAttribute" and params["body"]["InstanceId"] == denied:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}},
                "DescribeInstanceAttribute",
            )

    ctx.client("ec2").meta.events.register_last("before-call", refuse)

    result = collect_ec2(ctx)

    instances = _instances(result)
    assert instances[denied].unavailable == ("UserData",)
    assert "UserData" not in instances[denied].attributes
    assert instances[fine].unavailable == ()
    [gap] = result.gaps
    assert gap.resource_arn == instances[denied].arn
    assert gap.kinds == (Kind.EC2_INSTANCE,)
    assert gap.operation == "ec2:DescribeInstanceAttribute"
    assert gap.error_code == "UnauthorizedOperation"
    assert not gap.covers(Kind.EC2_INSTANCE, ACCOUNT, REGION)
    json.dumps(gap.to_json())

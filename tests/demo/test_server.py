"""DemoServer: an in-process moto server on 127.0.0.1 that the demo and tests point at."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest

from auditor.demo.server import DemoServer, demo_aws_env


def _ec2(endpoint_url: str) -> Any:
    """A client in moto's default account (no other test module seeds it)."""
    return boto3.client(
        "ec2",
        region_name="ap-southeast-2",
        endpoint_url=endpoint_url,
        aws_access_key_id="k",
        aws_secret_access_key="s",
    )


def _add_vpc(endpoint_url: str) -> str:
    return str(_ec2(endpoint_url).create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"])


def _vpcs(endpoint_url: str) -> set[str]:
    return {v["VpcId"] for v in _ec2(endpoint_url).describe_vpcs()["Vpcs"]}


def test_serves_on_localhost_and_stops_on_exit() -> None:
    """The server listens on 127.0.0.1 on a port of its own choosing, and is gone after
    the with-block (nothing is left listening)."""
    with DemoServer() as server:
        url = server.endpoint_url
        assert url.startswith("http://127.0.0.1:")
        assert 0 < int(url.rsplit(":", 1)[1])
        assert _add_vpc(url) in _vpcs(url)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/moto-api/", timeout=2)  # noqa: S310
    with pytest.raises(RuntimeError):
        _ = server.endpoint_url


def test_reset_forgets_every_resource(demo_server: DemoServer) -> None:
    """reset() empties the server: a VPC created before is gone after, and the reset is
    counted (so fixtures know to seed again)."""
    url, resets = demo_server.endpoint_url, demo_server.resets
    vpc = _add_vpc(url)
    demo_server.reset()
    assert (False, resets + 1) == (vpc in _vpcs(url), demo_server.resets)


def test_env_points_at_the_server_without_touching_os_environ(
    monkeypatch: pytest.MonkeyPatch, demo_server: DemoServer
) -> None:
    """demo_aws_env returns the variables that make boto3 use the server, and applying
    them is left to the caller: os.environ is unchanged by the call."""
    before = dict(os.environ)
    env = demo_aws_env(demo_server.endpoint_url, "eu-west-1")
    assert before == dict(os.environ)
    assert demo_server.endpoint_url == env["AWS_ENDPOINT_URL"]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    sts = boto3.client("sts")
    assert "eu-west-1" == sts.meta.region_name
    assert "123456789012" == sts.get_caller_identity()["Account"]

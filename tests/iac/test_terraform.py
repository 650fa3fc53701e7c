"""Terraform state v4 becomes iac.resource values; bad states are named errors or gaps."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from auditor.iac.terraform import StateError, load_states, parse_state, state_gap
from auditor.model import CollectionGap, Kind, canonical_json
from tests.conftest import NOW

DATA = Path(__file__).parent.parent / "data" / "terraform"
COMPARE = {
    "aws_ecr_repository": {"image_tag_mutability": "imageTagMutability"},
    "aws_autoscaling_group": {
        "launch_template[0].version": "LaunchTemplate.Version",
        "max_instance_lifetime": "MaxInstanceLifetime",
    },
    "aws_instance": {"instance_type": "InstanceType"},
}


def _no_s3(*_: object) -> bytes:
    raise AssertionError("no S3 access expected")


def _gap(pattern: str, exc: BaseException) -> CollectionGap:
    return state_gap(pattern, "s3:GetObject", type(exc).__name__, str(exc))


def test_managed_resources_become_declared_resources() -> None:
    """Each managed resource of a supported type is declared with identity and compared fields."""
    text = (DATA / "prod.tfstate").read_text()
    declared = {r.id: r for r in parse_state(text, "prod.tfstate", COMPARE, NOW)}
    assert sorted(declared) == [
        "aws_ecr_repository.web",
        "aws_instance.bastion[0]",
        "module.app.aws_autoscaling_group.web",
    ]
    asg = declared["module.app.aws_autoscaling_group.web"]
    assert asg.kind is Kind.IAC_RESOURCE
    assert asg.attributes["TargetKind"] == "autoscaling.group"
    assert asg.attributes["Id"] == "web-asg"
    assert (asg.account, asg.region) == ("123456789012", "us-east-1")
    assert asg.attributes["Declared"] == {
        "launch_template[0].version": "3",
        "max_instance_lifetime": 604800,
    }
    assert declared["aws_ecr_repository.web"].tags == {"team": "payments"}


def test_state_secrets_never_kept() -> None:
    """Attributes not compared (user data with a password) never reach the resource."""
    text = (DATA / "prod.tfstate").read_text()
    resources = parse_state(text, "prod.tfstate", COMPARE, NOW)
    dumped = canonical_json([r.config_document() for r in resources])
    assert "hunter2" not in dumped


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("truncated.tfstate", r"truncated\.tfstate:\d+: not valid JSON"),
        ("version3.tfstate", r"version3\.tfstate:2: version: unsupported state format 3"),
        ("bad-instances.tfstate", r"bad-instances\.tfstate:8: .*instances: expected a list"),
    ],
)
def test_bad_state_is_a_named_error(name: str, expected: str) -> None:
    """A malformed state is bad input naming file, line and field, not a crash or no drift."""
    with pytest.raises(StateError, match=expected):
        load_states([str(DATA / name)], COMPARE, NOW, _no_s3, _no_s3, _gap)


def test_glob_matching_nothing_is_an_error(tmp_path: Path) -> None:
    """A configured pattern that matches no file is an error: silence would mean 'no drift'."""
    with pytest.raises(StateError, match="no Terraform state file matches"):
        load_states([str(tmp_path / "*.tfstate")], COMPARE, NOW, _no_s3, _no_s3, _gap)


def test_state_read_from_s3_bucket_and_unreadable_object_is_gap() -> None:
    """States load from S3 by glob; an object that cannot be read becomes a collection gap."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="tf-state")
        s3.put_object(
            Bucket="tf-state", Key="prod/app.tfstate", Body=(DATA / "prod.tfstate").read_bytes()
        )
        s3.put_object(Bucket="tf-state", Key="prod/readme.txt", Body=b"not a state")

        def get(bucket: str, key: str) -> bytes:
            return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

        def list_keys(bucket: str, prefix: str) -> list[str]:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            return [o["Key"] for page in pages for o in page.get("Contents", [])]

        loaded = load_states(["s3://tf-state/prod/*.tfstate"], COMPARE, NOW, get, list_keys, _gap)
        assert loaded.sources == ("s3://tf-state/prod/app.tfstate",)
        assert len(loaded.resources) == 3
        assert loaded.gaps == ()

        missing = load_states(
            ["s3://tf-state/prod/gone.tfstate"], COMPARE, NOW, get, list_keys, _gap
        )
        assert missing.resources == ()
        assert [g.kinds for g in missing.gaps] == [(Kind.IAC_RESOURCE,)]
        assert missing.gaps[0].covers(Kind.IAC_RESOURCE, "123456789012", "eu-west-1")

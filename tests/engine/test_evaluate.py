"""Evaluation as a whole: counts, unknowns, purity."""

from __future__ import annotations

from dataclasses import replace

from auditor.engine import evaluate, load_rules, restrict
from auditor.model import (
    CollectionGap,
    FixedClock,
    Kind,
    Resource,
    Scope,
    Service,
    Snapshot,
    Status,
)
from auditor.settings import RulesConfig
from tests.checks.resources import ACCOUNT, REGION, gap, image, instance
from tests.conftest import NOW


def snapshot(*resources: Resource, gaps: tuple[CollectionGap, ...] = ()) -> Snapshot:
    return Snapshot(
        "s", NOW, NOW, Scope((ACCOUNT,), (REGION,), tuple(Service)), resources, gaps, {}
    )


def test_counts_include_passes() -> None:
    """Per-rule counts give the denominators a compliance report needs."""
    rules = load_rules(RulesConfig())
    good, bad = (
        instance(),
        replace(instance(KeyName="ops"), arn="arn:aws:ec2:x:1:instance/i-2", id="i-2"),
    )
    result = evaluate(snapshot(good, bad, image()), rules, (), FixedClock(NOW))
    stats = {s.rule_id: s for s in result.stats}
    keypair = stats["ec2.ssh_keypair_attached"]
    assert (keypair.evaluated, keypair.failed, keypair.passed) == (2, 1, 1)
    assert stats["ecs.exec_enabled"].evaluated == 0
    assert len(result.stats) == len(rules)


def test_unavailable_attribute_makes_only_rules_reading_it_unknown() -> None:
    """UserData denied: user-data rule unknown, with the gap as evidence; other rules still run."""
    rules = load_rules(RulesConfig())
    resource = replace(instance(KeyName="ops"), unavailable=("UserData",))
    denied = CollectionGap(ACCOUNT, REGION, Service.EC2, (Kind.EC2_INSTANCE,),
                           "ec2:DescribeInstanceAttribute", "UnauthorizedOperation", "denied",
                           resource_arn=resource.arn)  # fmt: skip
    result = evaluate(snapshot(resource, image(), gaps=(denied,)), rules, (), FixedClock(NOW))
    by_rule = {f.rule_id: f for f in result.findings}
    assert by_rule["ec2.userdata_secrets"].status is Status.UNKNOWN
    assert by_rule["ec2.ssh_keypair_attached"].status is Status.FAIL
    # a resource-level gap is not a scope gap: no placeholder findings
    assert [f for f in result.findings if f.resource.id == "*"] == []


def test_declarative_unknown_carries_the_gap_as_evidence() -> None:
    """When a declarative rule's key is unavailable, the evidence names the key and the gap."""
    rules = load_rules(RulesConfig())
    resource = replace(instance(), unavailable=("MetadataOptions",))
    denied = gap(Kind.EC2_INSTANCE, resource_arn=resource.arn)
    result = evaluate(snapshot(resource, image(), gaps=(denied,)), rules, (), FixedClock(NOW))
    (finding,) = [f for f in result.findings if f.rule_id == "ec2.imdsv2_required"]
    assert finding.status is Status.UNKNOWN
    assert finding.evidence["unavailable"] == ["MetadataOptions"]
    assert finding.evidence["gap"]["resource_arn"] == resource.arn


def test_evaluation_is_pure_and_replayable() -> None:
    """The same inputs give the same findings: a stored snapshot can be re-evaluated."""
    # no Terraform state, no event feed
    rules = restrict(load_rules(RulesConfig()), disabled=("iac.*", "access.*"))
    snap = snapshot(
        instance(KeyName="ops", LaunchTime="2026-01-01T00:00:00+00:00"), image(created_days_ago=300)
    )
    first = evaluate(snap, rules, (), FixedClock(NOW))
    assert first == evaluate(snap, rules, (), FixedClock(NOW))
    assert {f.rule_id for f in first.findings} == {
        "ec2.ssh_keypair_attached",
        "ec2.max_age",
        "ec2.ami_age",
    }


def test_secret_evidence_keeps_only_location_detector_and_hash() -> None:
    """Evidence of a secret never carries more than where, which detector, and a short hash."""
    rules = load_rules(RulesConfig())
    leaky = instance(UserData={"present": True, "sha256": "x", "size": 9, "secrets": [
        {"location": "line 2", "detector": "AWS Access Key", "hash": "0123456789ab", "value": "AKIA..."}]})  # fmt: skip
    result = evaluate(snapshot(leaky, image()), rules, (), FixedClock(NOW))
    (finding,) = [f for f in result.findings if f.rule_id == "ec2.userdata_secrets"]
    assert finding.evidence == {
        "secrets": [
            {"location": "user data line 2", "detector": "AWS Access Key", "hash": "0123456789ab"}
        ]
    }


def test_snapshot_view_finds_related_resources() -> None:
    """Checks see related resources through the view: by ARN, by id and by kind."""
    from auditor.model import SnapshotView

    snap = snapshot(instance(), image())
    view = SnapshotView(snap)
    ami = image()
    assert view.get(ami.arn) == ami
    assert view.find(Kind.EC2_IMAGE, ACCOUNT, REGION, "ami-0new") == ami
    assert view.of_kind(Kind.EC2_INSTANCE) == (instance(),)
    assert view.of_kind(Kind.ECS_TASK) == ()

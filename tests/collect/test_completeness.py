"""Collectors prove completeness: everything a collector was pointed at is read or a gap.

On a generated fleet far larger than the demo (160 Auto Scaling groups over 40 launch
templates of 2 versions each, groups pinning `1`, `2`, `$Latest` and `$Default`, one in
five through a mixed-instances policy), every template and version a group names, and
every AMI those versions launch, is in the snapshot (or hidden by a gap); and the rules
give the verdicts the fleet was built to have, as they do on the demo fleet.
Regression: DescribeLaunchTemplates answered with a capped page and 25 of the 40
templates were silently missing while coverage said complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auditor.aws import AwsSessions
from auditor.collect.base import PreviousState
from auditor.collect.completeness import completeness_gaps
from auditor.collect.completeness import unaccounted as named_but_missing
from auditor.collect.runner import collect
from auditor.demo.template_fleet import (
    TemplateFleet,
    group_plan,
    resolved_version,
    seed_template_fleet,
)
from auditor.engine import evaluate, load_rules
from auditor.engine.history import restrict
from auditor.model import FixedClock, Kind, Service, Snapshot, Status
from auditor.settings import RulesConfig, Settings
from tests.conftest import NOW

ACCOUNT = "123456789012"
REGION = "us-east-1"
TEMPLATES = 40
GROUPS = 160


@pytest.fixture(scope="module")
def fleet() -> Iterator[TemplateFleet]:
    with mock_aws():
        yield seed_template_fleet(
            lambda service, _account, region: boto3.client(service, region_name=region),
            accounts=(ACCOUNT,),
            regions=(REGION,),
            groups=GROUPS,
            templates=TEMPLATES,
            now=NOW,
        )


@pytest.fixture(scope="module")
def snapshot(fleet: TemplateFleet) -> Snapshot:
    with mock_aws():
        settings = Settings(regions=[REGION], services=["ec2"])  # type: ignore[arg-type]
        sessions = AwsSessions(base=boto3.Session(region_name=REGION))
        return collect(settings, sessions, FixedClock(NOW), PreviousState())


def unaccounted(snapshot: Snapshot) -> list[str]:
    """What a group, a service or an instance names that is neither in the snapshot nor
    hidden by one of its gaps: must always be empty."""
    by_arn = {r.arn: r for r in snapshot.resources}
    by_id = {(r.kind, r.account, r.region, r.id): r for r in snapshot.resources}

    def hidden(kind: Kind, account: str, region: str, arn: str) -> bool:
        return any(g.hides(kind, account, region, arn) for g in snapshot.gaps)

    missing: list[str] = []
    for r in snapshot.resources:
        if r.kind is Kind.ASG and isinstance(r.attributes.get("LaunchTemplate"), dict):
            template_id = str(r.attributes["LaunchTemplate"].get("LaunchTemplateId"))
            arn = f"arn:aws:ec2:{r.region}:{r.account}:launch-template/{template_id}"
            template = by_arn.get(arn)
            if hidden(Kind.EC2_LAUNCH_TEMPLATE, r.account, r.region, arn):
                continue
            if template is None:
                missing.append(f"{r.id}: template {template_id}")
                continue
            number = r.attributes.get("ResolvedLaunchTemplateVersion")
            versions = template.attributes.get("Versions") or {}
            if number is None or str(number) not in versions:
                missing.append(f"{r.id}: {template_id} version {number}")
                continue
            image = versions[str(number)]["LaunchTemplateData"].get("ImageId")
            seen = (Kind.EC2_IMAGE, r.account, r.region, image) in by_id
            if image and not seen and not hidden(Kind.EC2_IMAGE, r.account, r.region, image):
                missing.append(f"{r.id}: image {image}")
        elif r.kind is Kind.ECS_SERVICE and r.attributes.get("taskDefinition"):
            arn = str(r.attributes["taskDefinition"])
            if arn not in by_arn and not hidden(Kind.ECS_TASK_DEFINITION, r.account, r.region, arn):
                missing.append(f"{r.id}: task definition {arn}")
    return missing


def test_every_template_version_and_image_a_group_names_is_collected(
    snapshot: Snapshot, fleet: TemplateFleet
) -> None:
    """160 groups over 40 templates: nothing named is missing, and no gap excuses it."""
    assert snapshot.gaps == ()
    groups = [r for r in snapshot.resources if r.kind is Kind.ASG]
    templates = {r.id for r in snapshot.resources if r.kind is Kind.EC2_LAUNCH_TEMPLATE}
    assert len(groups) == GROUPS
    assert templates == set(fleet.templates.values())
    assert unaccounted(snapshot) == []
    assert named_but_missing(snapshot.resources, snapshot.gaps) == []
    for group in groups:
        t, version, _ = group_plan(int(group.id.split("-")[1]), TEMPLATES)
        expected = str(resolved_version(t, version))
        assert group.attributes["ResolvedLaunchTemplateVersion"] == expected


def test_verdicts_on_the_large_fleet_are_the_ones_it_was_built_with(
    snapshot: Snapshot, fleet: TemplateFleet
) -> None:
    """lt.ssh_keypair, lt.userdata_secrets and asg.ami_age: the missed violations of the
    bug report, per template and group, none unknown."""
    rules = restrict(
        load_rules(RulesConfig()),
        disabled=tuple(
            r.id
            for r in load_rules(RulesConfig()).rules
            if r.id not in ("lt.ssh_keypair", "lt.userdata_secrets", "asg.ami_age")
        ),
    )
    evaluation = evaluate(snapshot, rules, (), FixedClock(NOW))
    verdicts = {
        (f.rule_id, f.resource.id if f.rule_id != "asg.ami_age" else _where(f)): f.status.value
        for f in evaluation.findings
    }
    assert "unknown" not in verdicts.values()
    assert verdicts == fleet.expected


def _where(f: Any) -> str:
    return f"{f.resource.account}/{f.resource.region}/{f.resource.id}"


def test_a_response_that_leaves_ids_out_is_asked_again_then_a_gap() -> None:
    """The generic guard: ids a successful response omits are re-requested; a response
    that makes no progress raises (the collector turns it into a gap), never a silent miss."""
    from auditor.collect.ec2_batch import IncompleteResponse, describe_every_id

    calls: list[list[str]] = []

    def capped(batch: list[str]) -> list[dict[str, str]]:
        calls.append(batch)
        return [{"Id": i} for i in batch[:2]]

    items, gone = describe_every_id(capped, ["a", "b", "c", "d", "e"], lambda x: x["Id"], "Op")
    assert sorted(x["Id"] for x in items) == ["a", "b", "c", "d", "e"]
    assert (gone, len(calls)) == (set(), 3)

    def loses_one(batch: list[str]) -> list[dict[str, str]]:
        return [{"Id": i} for i in batch if i != "c"]

    with pytest.raises(IncompleteResponse):
        describe_every_id(loses_one, ["a", "b", "c"], lambda x: x["Id"], "Op")


def test_a_named_template_or_version_not_collected_is_a_resource_gap(snapshot: Snapshot) -> None:
    """The collector's own check: drop a template (or one of its versions) from a unit's
    resources and a NotCollected gap names it; a template AWS said is gone is no gap."""
    groups = [r for r in snapshot.resources if r.kind is Kind.ASG]
    template = next(r for r in snapshot.resources if r.kind is Kind.EC2_LAUNCH_TEMPLATE)
    others = [r for r in snapshot.resources if r is not template]
    (missed,) = completeness_gaps(others, (), Service.EC2)
    assert (missed.resource_arn, missed.error_code) == (template.arn, "NotCollected")
    assert missed.hides(Kind.EC2_LAUNCH_TEMPLATE, ACCOUNT, REGION, template.arn)
    assert completeness_gaps(others, (), Service.EC2, gone={template.arn}) == ()
    one_version = replace(template, attributes={**template.attributes, "Versions": {}})
    gaps = completeness_gaps([*others, one_version], (), Service.EC2)
    assert [g.resource_arn for g in gaps] == [template.arn]
    assert len(groups) == GROUPS


def test_a_template_not_collected_is_unknown_for_its_rules(snapshot: Snapshot) -> None:
    """Fail closed: the template behind a NotCollected gap is judged unknown by every
    launch-template rule (not absent from the report), and the groups using it too."""
    template = next(r for r in snapshot.resources if r.kind is Kind.EC2_LAUNCH_TEMPLATE)
    others = tuple(r for r in snapshot.resources if r is not template)
    gaps = completeness_gaps(others, (), Service.EC2)
    blind = replace(snapshot, resources=others, gaps=gaps)
    all_rules = load_rules(RulesConfig())
    evaluation = evaluate(blind, all_rules, (), FixedClock(NOW))
    on_template = {
        f.rule_id: f.status for f in evaluation.findings if f.resource.arn == template.arn
    }
    lt_rules = {r.id for r in all_rules.rules if Kind.EC2_LAUNCH_TEMPLATE in r.info.applies_to}
    assert on_template == dict.fromkeys(lt_rules, Status.UNKNOWN)
    users = {
        r.arn
        for r in others
        if r.kind is Kind.ASG and r.attributes["LaunchTemplate"]["LaunchTemplateId"] == template.id
    }
    ami_age = {f.resource.arn: f.status for f in evaluation.findings if f.rule_id == "asg.ami_age"}
    assert users
    assert {ami_age.get(arn) for arn in users} == {Status.UNKNOWN}

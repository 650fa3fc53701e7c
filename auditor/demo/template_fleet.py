"""A fleet of many Auto Scaling groups sharing launch templates, with known verdicts.

Per (account, region): `templates` launch templates of two versions each and `groups`
groups over them, pinning `1`, `2`, `$Latest` and `$Default` in turn, one in five through
a mixed-instances policy. Version 1 of template t launches the old AMI when t is even,
carries an SSH key when t % 4 == 0 and a secret in its user data when t % 5 == 0; version
2 is clean and fresh. The default version is 1 when t % 3 == 0, else 2. So the verdicts
of lt.ssh_keypair, lt.userdata_secrets and asg.ami_age are known per template and group
(`expected`), and every template a group names must be collected (the completeness
invariant of issue 11). Groups have no instances: this fleet is about references.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from auditor.demo import aging
from auditor.demo.cell import CLEAN_USER_DATA, LEAKY_USER_DATA, b64

VERSIONS = ("1", "2", "$Latest", "$Default")
OLD_AMI_DAYS = 400
FRESH_AMI_DAYS = 3

ClientFor = Callable[[str, str, str], Any]  # (service, account, region) -> boto3 client


def default_version(t: int) -> int:
    return 1 if t % 3 == 0 else 2


def resolved_version(t: int, version: str) -> int:
    return {"1": 1, "2": 2, "$Latest": 2, "$Default": default_version(t)}[version]


def group_plan(g: int, templates: int) -> tuple[int, str, bool]:
    """Group g: (template index, version string, through a mixed-instances policy)."""
    return g % templates, VERSIONS[(g // templates) % len(VERSIONS)], g % 5 == 0


@dataclass
class TemplateFleet:
    templates: dict[tuple[str, str, int], str] = field(default_factory=dict)  # -> template id
    groups: int = 0
    expected: dict[tuple[str, str], str] = field(default_factory=dict)  # (rule, id) -> "fail"


def _images(ec2: Any, account: str, region: str, now: datetime) -> tuple[str, str]:
    base = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    builder = base["Instances"][0]["InstanceId"]
    old = ec2.create_image(InstanceId=builder, Name="old")["ImageId"]
    fresh = ec2.create_image(InstanceId=builder, Name="fresh")["ImageId"]
    ec2.terminate_instances(InstanceIds=[builder])
    aging.set_image_dates(account, region, old, created=now - timedelta(days=OLD_AMI_DAYS))
    aging.set_image_dates(account, region, fresh, created=now - timedelta(days=FRESH_AMI_DAYS))
    return old, fresh


def _template(ec2: Any, account: str, region: str, t: int, old: str, fresh: str) -> str:
    first: dict[str, Any] = {
        "ImageId": old if t % 2 == 0 else fresh,
        "InstanceType": "t3.small",
        "UserData": b64(LEAKY_USER_DATA if t % 5 == 0 else CLEAN_USER_DATA),
    }
    if t % 4 == 0:
        first["KeyName"] = "ops"
    second = {"ImageId": fresh, "InstanceType": "t3.small", "UserData": b64(CLEAN_USER_DATA)}
    template = str(
        ec2.create_launch_template(LaunchTemplateName=f"tpl-{t:03d}", LaunchTemplateData=first)[
            "LaunchTemplate"
        ]["LaunchTemplateId"]
    )
    ec2.create_launch_template_version(LaunchTemplateId=template, LaunchTemplateData=second)
    aging.repair_launch_template_user_data(account, region, template)
    ec2.modify_launch_template(LaunchTemplateId=template, DefaultVersion=str(default_version(t)))
    return template


def _group(
    autoscaling: Any, region: str, name: str, template: str, version: str, mixed: bool
) -> None:
    spec = {"LaunchTemplateId": template, "Version": version}
    placement: dict[str, Any] = (
        {
            "MixedInstancesPolicy": {
                "LaunchTemplate": {
                    "LaunchTemplateSpecification": spec,
                    "Overrides": [{"InstanceType": "t3.small"}, {"InstanceType": "t3.medium"}],
                }
            }
        }
        if mixed
        else {"LaunchTemplate": spec}
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=0,
        AvailabilityZones=[f"{region}a"],
        **placement,
    )


def seed_template_fleet(
    client_for: ClientFor,
    *,
    accounts: Sequence[str],
    regions: Sequence[str],
    groups: int,
    templates: int,
    now: datetime,
) -> TemplateFleet:
    """Seed `groups` groups over `templates` templates in every (account, region)."""
    fleet = TemplateFleet()
    for account in accounts:
        for region in regions:
            ec2 = client_for("ec2", account, region)
            autoscaling = client_for("autoscaling", account, region)
            old, fresh = _images(ec2, account, region, now)
            for t in range(templates):
                template = _template(ec2, account, region, t, old, fresh)
                fleet.templates[(account, region, t)] = template
                if t % 4 == 0:
                    fleet.expected[("lt.ssh_keypair", template)] = "fail"
                if t % 5 == 0:
                    fleet.expected[("lt.userdata_secrets", template)] = "fail"
            for g in range(groups):
                t, version, mixed = group_plan(g, templates)
                name = f"grp-{g:03d}"
                _group(
                    autoscaling, region, name, fleet.templates[(account, region, t)], version, mixed
                )
                fleet.groups += 1
                if resolved_version(t, version) == 1 and t % 2 == 0:
                    fleet.expected[("asg.ami_age", f"{account}/{region}/{name}")] = "fail"
    return fleet

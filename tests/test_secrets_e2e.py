"""The corpus end to end: moto instances, launch templates and task definitions seeded from
tests/data/secrets/, `auditor scan` as a user runs it, and the report.

Proves (issue 14) that the report gives the same verdicts as the unit-level detector for the
three secret rules, that the allowlist silences exactly what it names, and (the canary) that
no corpus secret value, raw or base64, appears in anything the project writes: the store,
the report bundle, the logs and the console output.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from auditor.secrets import Detector, scan_assignment, scan_text
from tests.daemon.processes import MotoProcess
from tests.secrets_corpus import Case, found, load_cases
from tests.test_cli_e2e import REGION, _env

pytestmark = pytest.mark.slow

CASES = load_cases()
USER_DATA = [c for c in CASES if c.family == "userdata"]
ENVIRONMENTS = [c for c in CASES if c.family == "environments"]
ALLOWED = "env-jwt-secret"  # silenced by the allowlist (by variable-name glob)


def _unit_verdict(case: Case) -> bool:
    lines, names = found(case, scan_text, scan_assignment)
    return bool(lines or names)


VERSIONS_PER_TEMPLATE = 10


def _template_version(index: int) -> tuple[str, int]:
    return f"corpus-{index // VERSIONS_PER_TEMPLATE}", index % VERSIONS_PER_TEMPLATE + 1


def _clients(endpoint: str) -> dict[str, object]:
    kwargs = {
        "region_name": REGION,
        "endpoint_url": endpoint,
        "aws_access_key_id": "e2e",
        "aws_secret_access_key": "e2e",
    }
    return {name: boto3.client(name, **kwargs) for name in ("ec2", "autoscaling", "ecs")}  # type: ignore[call-overload]


def _seed(endpoint: str) -> None:
    c = _clients(endpoint)
    ec2, asg, ecs = c["ec2"], c["autoscaling"], c["ecs"]
    image = ec2.register_image(Name="base", RootDeviceName="/dev/xvda")["ImageId"]  # type: ignore[attr-defined]
    for case in USER_DATA:
        tags = [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": case.id}]}]
        ec2.run_instances(  # type: ignore[attr-defined]
            ImageId=image, MinCount=1, MaxCount=1, UserData=case.text, TagSpecifications=tags
        )
    # moto answers DescribeLaunchTemplates with at most 15 templates (no NextToken): the
    # user-data cases are versions of a few templates, each version used by its own group.
    for i, case in enumerate(USER_DATA):
        template, version = _template_version(i)
        data = {"ImageId": image, "UserData": base64.b64encode(case.text.encode()).decode()}
        if version == 1:
            ec2.create_launch_template(  # type: ignore[attr-defined]
                LaunchTemplateName=template,
                LaunchTemplateData=data,
                TagSpecifications=[
                    {
                        "ResourceType": "launch-template",
                        "Tags": [{"Key": "Name", "Value": template}],
                    }
                ],
            )
        else:
            ec2.create_launch_template_version(  # type: ignore[attr-defined]
                LaunchTemplateName=template, LaunchTemplateData=data
            )
        asg.create_auto_scaling_group(  # type: ignore[attr-defined]
            AutoScalingGroupName=case.id,
            LaunchTemplate={"LaunchTemplateName": template, "Version": str(version)},
            MinSize=0,
            MaxSize=1,
            DesiredCapacity=0,
            AvailabilityZones=[f"{REGION}a"],
        )
    ecs.create_cluster(clusterName="corpus")  # type: ignore[attr-defined]
    for case in ENVIRONMENTS:
        ecs.register_task_definition(  # type: ignore[attr-defined]
            family=case.id,
            containerDefinitions=[
                {
                    "name": "app",
                    "image": "example/app@sha256:" + "1" * 64,
                    "memory": 128,
                    "environment": [{"name": n, "value": v} for n, v in case.env],
                }
            ],
        )
        ecs.create_service(  # type: ignore[attr-defined]
            cluster="corpus", serviceName=case.id, taskDefinition=case.id, desiredCount=0
        )


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """One seeded server, one scan; yields (work dir, console and log output)."""
    # a moto server process of its own: an in-process one shares moto's estate with every
    # other module on this worker (and a reset would wipe theirs)
    server = MotoProcess(tmp_path_factory.mktemp("moto") / "moto.log")
    endpoint = server.url
    _seed(endpoint)
    work = tmp_path_factory.mktemp("secrets-e2e")
    key = work / "signing.key"
    subprocess.run(
        [sys.executable, "-m", "auditor", "keys", "generate", "--out", str(key)],
        check=True,
        capture_output=True,
    )
    config = work / "auditor.yaml"
    config.write_text(
        f"store: sqlite:///{work / 'auditor.db'}\n"
        f"reports: {{dir: {work / 'reports'}}}\n"
        f"signing: {{key_file: {key}}}\n"
        "services: [ec2, ecs]\n"
        "secrets:\n"
        "  allow:\n"
        "    - {name: JWT_SECRET, rule: ecs.env_secrets, reason: test signing key of a demo,"
        " owner: team-corpus, expires: 2099-01-01}\n"
        "    - {name: '*', reason: expired entries stop applying, owner: team-corpus,"
        " expires: 2000-01-01}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "auditor", "--log-json", "scan", "--config", str(config)],
        env=_env(endpoint, AUDITOR_LOG_LEVEL="debug"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    yield work, result.stdout + result.stderr
    server.stop()


def _failing(work: Path, rule: str) -> set[str]:
    bundle = sorted(p for p in (work / "reports").iterdir() if p.is_dir())[-1]
    report = json.loads((bundle / "report.json").read_text())
    out: set[str] = set()
    for finding in report["findings"]:
        if finding["rule_id"] == rule and finding["status"] == "fail":
            resource = finding["resource"]
            name = resource["tags"].get("Name") or resource["id"]
            out.add(name.split(":")[0])
    return out


def _names(work: Path, rule: str, cases: list[Case]) -> tuple[set[str], set[str]]:
    ids = {c.id for c in cases}
    return _failing(work, rule) & ids, {c.id for c in cases if _unit_verdict(c)}


def test_instances_report_matches_the_detector(scanned: tuple[Path, str]) -> None:
    """ec2.userdata_secrets fails exactly the instances whose user data the detector flags."""
    reported, expected = _names(scanned[0], "ec2.userdata_secrets", USER_DATA)
    assert reported == expected == {c.id for c in USER_DATA if c.secret}


def test_launch_templates_report_matches_the_detector(scanned: tuple[Path, str]) -> None:
    """lt.userdata_secrets names exactly the template versions (in use) flagged."""
    bundle = sorted(p for p in (scanned[0] / "reports").iterdir() if p.is_dir())[-1]
    report = json.loads((bundle / "report.json").read_text())
    flagged: set[tuple[str, int]] = set()
    for finding in report["findings"]:
        if finding["rule_id"] == "lt.userdata_secrets" and finding["status"] == "fail":
            for hit in finding["evidence"]["secrets"]:
                version = int(hit["location"].split()[1])
                flagged.add((finding["resource"]["tags"]["Name"], version))
    reported = {c.id for i, c in enumerate(USER_DATA) if _template_version(i) in flagged}
    assert reported == {c.id for c in USER_DATA if _unit_verdict(c)}
    assert reported == {c.id for c in USER_DATA if c.secret}


def test_task_definitions_report_matches_the_detector_and_allowlist(
    scanned: tuple[Path, str],
) -> None:
    """ecs.env_secrets fails exactly the flagged task definitions, minus the allowlisted one."""
    reported, expected = _names(scanned[0], "ecs.env_secrets", ENVIRONMENTS)
    assert ALLOWED in expected
    assert reported == expected - {ALLOWED}


def test_canary_no_secret_value_is_written(scanned: tuple[Path, str]) -> None:
    """No corpus secret, raw or base64, in the store, the bundle, the logs or the console."""
    work, output = scanned
    detector = Detector()
    values: set[str] = set()
    for case in CASES:
        values.update(case.secret_values())
        for text in [case.text, *(v for _, v in case.env)]:
            values.update(v for *_, v in detector.candidates(text))
    values = {v for v in values if len(v) >= 6}
    assert len(values) >= 60
    needles = values | {base64.b64encode(v.encode()).decode() for v in values}
    blobs = [("console", output.encode())]
    blobs += [(str(p), p.read_bytes()) for p in work.rglob("*") if p.is_file()]
    leaks = [
        (where, needle[:4] + "...")
        for where, blob in blobs
        for needle in needles
        if needle.encode() in blob
    ]
    assert leaks == []

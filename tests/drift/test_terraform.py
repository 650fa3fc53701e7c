"""Live state against Terraform v4 states (local and in a moto S3 bucket), through cycles."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from auditor.errors import ExitCode
from auditor.iac.load import IAC_CHANGED_RULE
from auditor.model import Kind, Severity, Status
from tests.drift.conftest import Fleet, Runner, client, failing

STATE = Path(__file__).parent.parent / "data" / "terraform" / "fleet.tfstate"
IAC_RULES = ("iac.unmanaged", "iac.missing", "iac.changed")
BUCKET = "tf-state"


def _upload(body: bytes, key: str = "prod/fleet.tfstate") -> str:
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/prod/*.tfstate"


def test_state_from_s3_finds_unmanaged_missing_and_changed(
    fleet: Fleet, make_runner: Callable[..., Runner]
) -> None:
    """The state in S3 declares the repositories, the group, the ECS cluster, service and
    task definition, and an instance that is gone: the rest is unmanaged, the gone instance
    is missing, the repository flipped to MUTABLE is changed."""
    pattern = _upload(STATE.read_bytes())
    result = make_runner(iac={"terraform_states": (pattern,)}).cycle()
    found = failing(result, IAC_RULES)
    assert {
        ("iac.unmanaged", fleet.pet),
        ("iac.unmanaged", fleet.template_id),
        ("iac.missing", "aws_instance.decommissioned"),
        ("iac.changed", "aws_ecr_repository.scratch"),
    } == set(found)
    changed = found[("iac.changed", "aws_ecr_repository.scratch")]
    assert [
        {
            "attribute": "image_tag_mutability",
            "declared": "IMMUTABLE",
            "live": "MUTABLE",
            "live_field": "imageTagMutability",
        }
    ] == changed.evidence["differences"]
    assert f"s3://{BUCKET}/prod/fleet.tfstate" == changed.evidence["source"]
    assert ExitCode.VIOLATIONS == result.exit_code(Severity.HIGH)


def test_state_secrets_never_reach_the_store(
    fleet: Fleet, make_runner: Callable[..., Runner]
) -> None:
    """The container definitions in the state hold a token: only compared attributes are kept."""
    runner = make_runner(iac={"terraform_states": (str(STATE),)})
    runner.cycle()
    snapshot = runner.store.latest_snapshot()
    assert snapshot is not None
    declared = [r for r in snapshot.resources if r.kind is Kind.IAC_RESOURCE]
    assert len(declared) == 7
    assert "s3cr3t-in-state" not in json.dumps([r.config_document() for r in declared])


def test_hand_deploy_is_iac_change_and_drift_until_declared(
    fleet: Fleet, make_runner: Callable[..., Runner], tmp_path: Path
) -> None:
    """A revision deployed by hand differs from the declared one (iac.changed) and nothing
    vouches for it (drift); once the state declares it, both are resolved."""
    state = tmp_path / "fleet.tfstate"
    state.write_text(STATE.read_text())
    runner = make_runner(iac={"terraform_states": (str(tmp_path / "*.tfstate"),)})
    runner.cycle()
    ecs = client("ecs")
    td = ecs.register_task_definition(
        family="web",
        containerDefinitions=[{"name": "web", "image": "nginx:hotfix", "memory": 128}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster="prod", service="web", taskDefinition=td)
    second = runner.cycle()
    found = {
        key: f
        for key, f in failing(second, ("iac.changed", "drift.ecs_service_modified")).items()
        if key[1] != "aws_ecr_repository.scratch"  # declared IMMUTABLE, MUTABLE since seeding
    }
    assert {("iac.changed", "aws_ecs_service.web"), ("drift.ecs_service_modified", "prod/web")} == (
        set(found)
    )
    assert [
        {
            "attribute": "task_definition",
            "declared": "web:1",
            "live": "web:2",
            "live_field": "taskDefinition",
        }
    ] == found[("iac.changed", "aws_ecs_service.web")].evidence["differences"]

    state.write_text(STATE.read_text().replace("task-definition/web:1", "task-definition/web:2"))
    third = runner.cycle()
    assert {("iac.changed", "aws_ecr_repository.scratch")} == set(
        failing(third, ("iac.changed", "drift.ecs_service_modified"))
    )
    assert {"iac.changed", "drift.ecs_service_modified"} <= {
        t.finding.rule_id for t in third.delta.resolved
    }


def test_unreadable_state_object_makes_unmanaged_unknown(
    fleet: Fleet, make_runner: Callable[..., Runner]
) -> None:
    """A state that cannot be read is a gap: nothing is called unmanaged, the cycle is
    incomplete (exit 3), and the declared-state rules are unknown, never a pass."""
    client("s3").create_bucket(Bucket=BUCKET)
    result = make_runner(iac={"terraform_states": (f"s3://{BUCKET}/prod/gone.tfstate",)}).cycle()
    by_rule = {
        rule: {f.status for f in result.evaluation.findings if f.rule_id == rule}
        for rule in IAC_RULES
    }
    assert {"iac.unmanaged": {Status.UNKNOWN}, "iac.missing": {Status.UNKNOWN},
            "iac.changed": {Status.UNKNOWN}} == by_rule  # fmt: skip
    assert ExitCode.INCOMPLETE == result.exit_code(Severity.HIGH)


def test_without_a_state_iac_rules_do_not_run(
    fleet: Fleet, make_runner: Callable[..., Runner]
) -> None:
    """No Terraform state configured: nothing to compare with, so no iac.* rule runs."""
    result = make_runner().cycle()
    assert [] == [s.rule_id for s in result.evaluation.stats if s.rule_id.startswith("iac.")]
    assert "drift.ec2_modified_in_place" in {s.rule_id for s in result.evaluation.stats}


def test_cloudformation_stacks_count_as_managed_unless_disabled(
    fleet: Fleet, make_runner: Callable[..., Runner]
) -> None:
    """The stack tag makes a resource managed; `cloudformation_managed: false` turns that off."""
    client("ec2").create_tags(
        Resources=[fleet.pet], Tags=[{"Key": "aws:cloudformation:stack-name", "Value": "pets"}]
    )
    on = make_runner(iac={"terraform_states": (str(STATE),)}).cycle()
    assert ("iac.unmanaged", fleet.pet) not in failing(on, IAC_RULES)
    off = make_runner(
        iac={"terraform_states": (str(STATE),), "cloudformation_managed": False}
    ).cycle()
    assert ("iac.unmanaged", fleet.pet) in failing(off, IAC_RULES)


def test_compare_rule_name_is_what_the_pipeline_reads() -> None:
    """The pipeline reads the compared attributes from this rule's params."""
    assert "iac.changed" == IAC_CHANGED_RULE

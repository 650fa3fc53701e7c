"""What `auditor demo` needs besides the fleet: its settings, a Terraform state declaring
part of the fleet (so IaC drift has something to compare), and the closing printout."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from auditor.demo.fleet import account_session, role_arn
from auditor.demo.manifest import FleetManifest
from auditor.model import ActionStatus, Finding, Status
from auditor.notify import CaptureTransport
from auditor.pipeline import CycleResult
from auditor.report.signing import generate_ed25519_pem, write_private_key
from auditor.settings import Settings

KEY_FILE = "auditor-signing.key"
PUBLIC_KEY_FILE = "public.pem"
STATE_FILE = "terraform.tfstate"
MISSING_INSTANCE = "i-0decl4red0000000"
DRIFT_SHOWN_PER_RULE = 2
# what the demo lets the (dry-run) remediation plan act on: findings fixed by replacement
REMEDIATED_RULES = (
    "ec2.max_age",
    "ec2.ami_age",
    "ecs.task_max_age",
    "eks.nodegroup_ami_stale",
    "asg.instance_stale",
    "drift.ec2_modified_in_place",
)


def demo_settings(out: Path, manifest: FleetManifest, state: Path) -> Settings:
    key = out / KEY_FILE
    if not key.exists():
        write_private_key(key, generate_ed25519_pem())
    _write_public_key(key, out / PUBLIC_KEY_FILE)
    return Settings(
        accounts=tuple({"id": a, "role_arn": role_arn(a)} for a in manifest.accounts),
        regions=tuple(manifest.regions),
        store=f"sqlite:///{(out / 'auditor.db').resolve()}",
        reports={"dir": out / "reports"},
        signing={"key_file": key},
        slack={"webhook_url_env": "AUDITOR_DEMO_SLACK", "min_severity": "high"},
        remediation={
            "mode": "dry-run",
            "rules": REMEDIATED_RULES,
            "min_consecutive_cycles": 2,
            "max_percent_per_group": 50,
        },
        iac={"terraform_states": (str(state),)},
    )


def _write_public_key(private: Path, public: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _tf(tf_type: str, name: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        "mode": "managed",
        "type": tf_type,
        "name": name,
        "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
        "instances": [{"schema_version": 0, "attributes": attributes}],
    }


def write_declared_state(out: Path, manifest: FleetManifest) -> Path:
    """A Terraform v4 state declaring the first account+region's groups, services and
    repositories as they are live, except: the first mutable repository declared IMMUTABLE
    (attribute drift), one instance that does not exist (missing). Everything else is
    unmanaged."""
    account, region = manifest.accounts[0], manifest.regions[0]
    session = account_session(manifest.endpoint_url, account)
    resources: list[dict[str, Any]] = []
    asg = session.client("autoscaling", region_name=region)
    for i, group in enumerate(asg.describe_auto_scaling_groups()["AutoScalingGroups"]):
        lt = group.get("LaunchTemplate") or {}
        attrs: dict[str, Any] = {
            "id": group["AutoScalingGroupName"],
            "name": group["AutoScalingGroupName"],
            "arn": group["AutoScalingGroupARN"],
            "max_instance_lifetime": group.get("MaxInstanceLifetime", 0),
        }
        if lt:
            attrs["launch_template"] = [
                {
                    "id": lt.get("LaunchTemplateId"),
                    "name": lt.get("LaunchTemplateName"),
                    "version": lt.get("Version"),
                }
            ]
        resources.append(_tf("aws_autoscaling_group", f"group_{i}", attrs))
    ecr = session.client("ecr", region_name=region)
    flipped = False
    for i, repo in enumerate(ecr.describe_repositories()["repositories"]):
        mutability = repo["imageTagMutability"]
        if not flipped and mutability.startswith("MUTABLE"):
            mutability = "IMMUTABLE"  # declared immutable, someone flipped it by hand
            flipped = True
        resources.append(
            _tf(
                "aws_ecr_repository",
                f"repo_{i}",
                {
                    "id": repo["repositoryName"],
                    "name": repo["repositoryName"],
                    "arn": repo["repositoryArn"],
                    "image_tag_mutability": mutability,
                },
            )
        )
    ecs = session.client("ecs", region_name=region)
    for c, cluster in enumerate(ecs.list_clusters()["clusterArns"]):
        name = cluster.rsplit("/", 1)[-1]
        resources.append(
            _tf("aws_ecs_cluster", f"cluster_{c}", {"id": cluster, "arn": cluster, "name": name})
        )
        for s, service in enumerate(ecs.list_services(cluster=cluster)["serviceArns"]):
            described = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
            resources.append(
                _tf(
                    "aws_ecs_service",
                    f"service_{c}_{s}",
                    {
                        "id": service,
                        "name": described["serviceName"],
                        "cluster": cluster,
                        "task_definition": described["taskDefinition"],
                    },
                )
            )
    resources.append(
        _tf(
            "aws_instance",
            "decommissioned",
            {
                "id": MISSING_INSTANCE,
                "instance_type": "t3.micro",
                "arn": f"arn:aws:ec2:{region}:{account}:instance/{MISSING_INSTANCE}",
            },
        )
    )
    state = {
        "version": 4,
        "terraform_version": "1.7.5",
        "serial": 1,
        "lineage": "demo",
        "outputs": {},
        "resources": resources,
    }
    path = out / STATE_FILE
    path.write_text(json.dumps(state, indent=2))
    return path


def print_extras(
    result: CycleResult,
    capture: CaptureTransport,
    manifest: FleetManifest,
    out: Path,
    stream: TextIO,
) -> None:
    """Drift, the remediation plan, Slack previews, rule coverage and where the report is."""
    findings = result.evaluation.findings
    drift = [
        f
        for f in findings
        if f.rule_id.startswith(("drift.", "iac.", "asg.instance_stale", "eks.node_stale"))
    ]
    print("\n== drift (over time and against Terraform) ==", file=stream)
    by_rule: dict[str, list[Finding]] = {}
    for f in sorted(drift, key=lambda f: (f.rule_id, f.resource.arn)):
        if f.status is Status.FAIL:
            by_rule.setdefault(f.rule_id, []).append(f)
    for rule_id, failed in sorted(by_rule.items()):
        for f in failed[:DRIFT_SHOWN_PER_RULE]:
            print(f"  {f.rule_id:28} {f.resource.id:36} {f.message}", file=stream)
        if len(failed) > DRIFT_SHOWN_PER_RULE:
            print(f"  {rule_id:28} ... and {len(failed) - DRIFT_SHOWN_PER_RULE} more", file=stream)
    unknown = sum(1 for f in drift if f.status is Status.UNKNOWN)
    if unknown:
        print(f"  ({unknown} could not be judged: unknown, see the report)", file=stream)

    print("\n== remediation plan (dry-run: no call was made) ==", file=stream)
    by_status = Counter(a.status.value for a in result.actions)
    print("  " + ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())), file=stream)
    shown = [a for a in result.actions if a.status is ActionStatus.PLANNED][:5]
    shown += [a for a in result.actions if a.status is not ActionStatus.PLANNED][:5]
    for a in shown:
        print(f"  [{a.status.value}] {a.action} {a.target_arn}: {a.reason}", file=stream)

    print(f"\n== Slack (captured, not sent): {len(capture.previews)} messages ==", file=stream)
    for text in capture.previews[:3]:
        print("  " + text[:600].replace("\n", "\n  "), file=stream)
    print(f"  all messages: {capture.path}", file=stream)

    fired = {f.rule_id for f in findings if f.status is Status.FAIL}
    expected = set(manifest.expected_failures)
    missing = sorted(expected - fired)
    print(f"\n== rules: {len(fired)} fired on the seeded fleet ==", file=stream)
    if missing:
        print(f"  seeded but not firing: {', '.join(missing)}", file=stream)
    if result.report_dir is not None:
        print("\n== signed report ==", file=stream)
        print(f"  {result.report_dir / 'report.html'}", file=stream)
        print(
            f"  verify: auditor verify {result.report_dir.parent} --key {out / PUBLIC_KEY_FILE}",
            file=stream,
        )

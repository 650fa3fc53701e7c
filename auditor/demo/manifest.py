"""What a seeding run created, and which resources each built-in rule must flag.

The seeders record every resource with the facts a rule looks at; the expected failures
are derived here from those facts and the rule table's default parameters (issue 3), so
the demo and the tests can check that every rule fires, and fires only where it should.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

# Default parameters of the built-in rules (issue 3), in days or versions.
AMI_MAX_AGE_DAYS = 90
ECR_IMAGE_MAX_AGE_DAYS = 90
NODEGROUP_AMI_MAX_AGE_DAYS = 60
EKS_OLDEST_SUPPORTED = (1, 30)
INSTANCE_MAX_AGE_DAYS = 30
TASK_MAX_AGE_DAYS = 30
ASG_MAX_LIFETIME_DAYS = 30
STOPPED_MAX_DAYS = 30

RULE_IDS: tuple[str, ...] = (
    "ec2.ssh_keypair_attached",
    "lt.ssh_keypair",
    "eks.nodegroup_remote_access",
    "sg.ssh_open_world",
    "ecs.exec_enabled",
    "ecr.tag_mutable",
    "ecs.image_not_pinned",
    "asg.launch_template_version_mutable",
    "asg.uses_launch_configuration",
    "ecs.env_secrets",
    "ec2.userdata_secrets",
    "lt.userdata_secrets",
    "ec2.ami_age",
    "asg.ami_age",
    "ec2.ami_deprecated_or_gone",
    "ecr.running_image_age",
    "eks.nodegroup_ami_stale",
    "eks.version_unsupported",
    "ec2.max_age",
    "ecs.task_max_age",
    "asg.max_instance_lifetime",
    "ec2.stopped_too_long",
    "ec2.unmanaged_pet",
    "ecs.rootfs_writable",
    "ecs.privileged",
    "ecs.root_user",
    "ecs.host_namespace",
    "ec2.imdsv2_required",
    "lt.imdsv2_required",
    "eks.endpoint_public",
    "ecr.image_secrets",
    "ecr.image_not_scanned",
    "ecr.image_vulnerabilities",
)


@dataclass(frozen=True, slots=True)
class FleetManifest:
    """The seeded fleet: where it lives, how much of each kind, and what must fail.

    `counts` is keyed by resource kind (`auditor.model.Kind` values, e.g. "ec2.instance")
    and counts what the seeder created that a collector should see: every AMI, security
    group, launch template, task definition and ECR image seeded is referenced by compute
    (a deregistered AMI is not counted). `expected_failures` maps every built-in rule id to
    the ARNs that must fail it (AWS ARNs, or the ARN forms in docs/resources.md).
    """

    endpoint_url: str
    accounts: tuple[str, ...]
    regions: tuple[str, ...]
    now: datetime
    counts: Mapping[str, int]
    expected_failures: Mapping[str, frozenset[str]]
    # Deliberately compliant resources per kind, for "most of the estate passes" checks.
    compliant_examples: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    @property
    def total_resources(self) -> int:
        return sum(self.counts.values())

    def failing(self, rule_id: str) -> frozenset[str]:
        """The ARNs that must fail `rule_id` (empty for a rule the fleet does not seed)."""
        return self.expected_failures.get(rule_id, frozenset())

    def rules_without_violations(self) -> tuple[str, ...]:
        return tuple(rule for rule in RULE_IDS if not self.failing(rule))


class ManifestBuilder:
    """Mutable accumulator the seeders write to; `build()` freezes it."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)
        self.failures: dict[str, set[str]] = defaultdict(set)
        self.compliant: dict[str, set[str]] = defaultdict(set)

    def add(self, kind: str, count: int = 1) -> None:
        self.counts[kind] += count

    def fail(self, rule_id: str, *arns: str) -> None:
        if rule_id not in RULE_IDS:
            raise ValueError(f"unknown rule id {rule_id!r}")
        self.failures[rule_id].update(arns)

    def fail_if(self, condition: bool, rule_id: str, *arns: str) -> None:
        if condition:
            self.fail(rule_id, *arns)

    def passes(self, kind: str, *arns: str) -> None:
        self.compliant[kind].update(arns)

    def merge(self, other: ManifestBuilder) -> None:
        for kind, count in other.counts.items():
            self.counts[kind] += count
        for rule, arns in other.failures.items():
            self.failures[rule].update(arns)
        for kind, arns in other.compliant.items():
            self.compliant[kind].update(arns)

    def build(
        self, endpoint_url: str, accounts: tuple[str, ...], regions: tuple[str, ...], now: datetime
    ) -> FleetManifest:
        return FleetManifest(
            endpoint_url=endpoint_url,
            accounts=accounts,
            regions=regions,
            now=now,
            counts=MappingProxyType(dict(sorted(self.counts.items()))),
            expected_failures=MappingProxyType(
                {rule: frozenset(self.failures.get(rule, ())) for rule in RULE_IDS}
            ),
            compliant_examples=MappingProxyType(
                {kind: frozenset(arns) for kind, arns in sorted(self.compliant.items())}
            ),
        )

"""One (account, region) of the demo fleet: its clients, its clock, and shared facts.

The seeders of each service write into a Cell; `record_instance` turns the facts of one
EC2 instance into the instance rules it must fail, so every seeder applies them alike.
"""

from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3
import botocore.config

from auditor.demo.manifest import (
    AMI_MAX_AGE_DAYS,
    INSTANCE_MAX_AGE_DAYS,
    STOPPED_MAX_DAYS,
    ManifestBuilder,
)

_CONFIG = botocore.config.Config(
    retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=4
)

TERRAFORM_TAGS = {"ManagedBy": "terraform", "terraform:workspace": "prod"}

CLEAN_USER_DATA = "#!/bin/bash\nset -euo pipefail\n/opt/app/bin/start --config /etc/app/prod.toml\n"
# Fake credentials in the shape detect-secrets recognises (AWS's documented example key).
LEAKY_USER_DATA = (
    "#!/bin/bash\n"
    "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"
    "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    "aws s3 sync s3://ops-scripts/bastion /opt/ops\n"
)
LEAKY_LT_USER_DATA = (
    "#!/bin/bash\n"
    "cat > /etc/app/db.env <<EOF\n"
    "DB_HOST=legacy-db.internal\n"
    "DB_PASSWORD=Sup3r-s3cret-Pa55w0rd!\n"
    "EOF\n"
    "systemctl restart legacy-app\n"
)


def b64(text: str, *, gzipped: bool = False) -> str:
    """Launch-template user data as the API wants it: base64 (of gzip, if asked)."""
    raw = text.encode()
    if gzipped:
        raw = gzip.compress(raw, mtime=0)
    return base64.b64encode(raw).decode()


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


@dataclass(frozen=True, slots=True)
class AmiFacts:
    image_id: str
    created: datetime
    deprecated: datetime | None = None
    gone: bool = False


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    """What the instance rules look at, as the seeder intended it."""

    ami: AmiFacts
    launched: datetime
    key_name: str | None = None
    imds_required: bool = False
    userdata_secret: bool = False
    managed: bool = True
    stopped_since: datetime | None = None


@dataclass
class Cell:
    account: str
    region: str
    index: int
    now: datetime
    scale: int
    session: boto3.Session
    endpoint_url: str
    builder: ManifestBuilder
    amis: dict[str, AmiFacts] = field(default_factory=dict)
    security_groups: dict[str, str] = field(default_factory=dict)
    subnets: list[str] = field(default_factory=list)
    vpc_id: str = ""
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(  # type: ignore[call-overload]
                service, region_name=self.region, endpoint_url=self.endpoint_url, config=_CONFIG
            )
        return self._clients[service]

    def ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    def instance_arn(self, instance_id: str) -> str:
        return self.arn("ec2", f"instance/{instance_id}")

    def sg_arn(self, group_id: str) -> str:
        return self.arn("ec2", f"security-group/{group_id}")

    def lt_arn(self, template_id: str) -> str:
        return self.arn("ec2", f"launch-template/{template_id}")

    def record_instance(self, instance_id: str, facts: InstanceFacts) -> None:
        """Count one instance and register the instance rules it must fail."""
        b, arn, now = self.builder, self.instance_arn(instance_id), self.now
        running = facts.stopped_since is None
        b.add("ec2.instance")
        b.fail_if(facts.key_name is not None, "ec2.ssh_keypair_attached", arn)
        b.fail_if(not facts.imds_required, "ec2.imdsv2_required", arn)
        b.fail_if(facts.userdata_secret, "ec2.userdata_secrets", arn)
        old_ami = now - facts.ami.created > timedelta(days=AMI_MAX_AGE_DAYS)
        b.fail_if(not facts.ami.gone and old_ami, "ec2.ami_age", arn)
        deprecated = facts.ami.deprecated is not None and facts.ami.deprecated <= now
        b.fail_if(facts.ami.gone or deprecated, "ec2.ami_deprecated_or_gone", arn)
        too_old = now - facts.launched > timedelta(days=INSTANCE_MAX_AGE_DAYS)
        b.fail_if(running and too_old, "ec2.max_age", arn)
        b.fail_if(running and not facts.managed, "ec2.unmanaged_pet", arn)
        if facts.stopped_since is not None:
            long_stopped = now - facts.stopped_since > timedelta(days=STOPPED_MAX_DAYS)
            b.fail_if(long_stopped, "ec2.stopped_too_long", arn)

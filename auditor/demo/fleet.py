"""Seed a realistic demo fleet on a moto server: 2 accounts x 2 regions by default.

Most of the estate is compliant, as in real life; a few resources in each (account,
region) break every built-in rule family. The returned FleetManifest says what was
created and which ARNs each rule must flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import boto3

from auditor.demo.cell import Cell
from auditor.demo.manifest import FleetManifest, ManifestBuilder
from auditor.demo.seed_ec2 import seed_ec2
from auditor.demo.seed_ecs import seed_ecs
from auditor.demo.seed_eks import seed_eks
from auditor.demo.server import DEFAULT_REGION, DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY

DEFAULT_ACCOUNTS: tuple[str, ...] = ("111111111111", "222222222222")
DEFAULT_REGIONS: tuple[str, ...] = ("us-east-1", "eu-west-1")
ROLE_NAME = "auditor"


def role_arn(account: str) -> str:
    """The role the demo assumes in each account (and that auditor's config should name)."""
    return f"arn:aws:iam::{account}:role/{ROLE_NAME}"


def account_session(endpoint_url: str, account: str) -> boto3.Session:
    """A session in `account` on the moto server, obtained the way auditor gets one: by
    assuming `role_arn(account)` with STS (moto files resources under the role's account)."""
    base = boto3.Session(
        aws_access_key_id=DEMO_ACCESS_KEY_ID,
        aws_secret_access_key=DEMO_SECRET_ACCESS_KEY,
        region_name=DEFAULT_REGION,
    )
    creds = base.client("sts", endpoint_url=endpoint_url).assume_role(
        RoleArn=role_arn(account), RoleSessionName="auditor-demo-seed"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=DEFAULT_REGION,
    )


def seed_fleet(
    endpoint_url: str,
    *,
    accounts: Sequence[str] = DEFAULT_ACCOUNTS,
    regions: Sequence[str] = DEFAULT_REGIONS,
    scale: int = 1,
    now: datetime,
) -> FleetManifest:
    """Create the demo fleet on the moto server at `endpoint_url`, dated relative to `now`.

    `scale` multiplies the instances behind every ASG and the tasks of every service
    (at scale 1: about 20 instances and 70 resources per account and region; 290 for the
    default 2 x 2). The server must run in this process (DemoServer): resources are
    backdated through moto's models. Cells alternate a few extras (a launch-configuration
    ASG on odd cells, the legacy EKS cluster on even ones), so use at least two cells for
    every rule to fire; `FleetManifest.rules_without_violations()` says which do not.
    """
    if now.tzinfo is None:
        raise ValueError("now must be a tz-aware UTC datetime")
    if scale < 1:
        raise ValueError("scale must be at least 1")
    builder = ManifestBuilder()
    index = 0
    for account in accounts:
        session = account_session(endpoint_url, account)
        for region in regions:
            cell = Cell(
                account=account,
                region=region,
                index=index,
                now=now,
                scale=scale,
                session=session,
                endpoint_url=endpoint_url,
                builder=builder,
            )
            seed_ec2(cell)
            seed_ecs(cell)
            seed_eks(cell)
            index += 1
    return builder.build(endpoint_url, tuple(accounts), tuple(regions), now)

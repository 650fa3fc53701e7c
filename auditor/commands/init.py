"""`auditor init`: a first config for the current AWS identity, and a signing key."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path

from auditor.report.formats import FORMATS

DESCRIPTION = """\
First run: ask AWS who you are (sts:GetCallerIdentity) and which regions your account has
enabled (ec2:DescribeRegions), write a commented auditor.yaml for that account and those
regions, and an Ed25519 signing key for the reports (0600). Nothing else is created; no
existing file is overwritten without --force (an existing key is always kept).

example:
  AWS_PROFILE=audit auditor init && auditor scan
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "init",
        help="write a first auditor.yaml and signing key for the current AWS identity",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, default=Path("auditor.yaml"), help="where to write")
    p.add_argument("--key", type=Path, default=Path("auditor-signing.key"),
                   help="signing key to create unless it exists")  # fmt: skip
    p.add_argument("--force", action="store_true", help="overwrite an existing config file")
    p.set_defaults(handler=handle)


def render(account: str, arn: str, regions: list[str], region_note: str, key: Path) -> str:
    """The commented config `init` writes (valid as written: `load_settings` reads it back)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    listed = ", ".join(regions)
    return f"""\
# auditor.yaml, written by `auditor init` on {stamp} for {arn}.
# Every section is optional; docs/configuration.md lists them all. Secrets never go in
# this file: it names the environment variable or file that holds them.

# The account to audit, with the credentials you ran `init` with. For more accounts add
# {{id, role_arn}} entries, or replace this with `organization: {{role_name: auditor}}`.
accounts:
  - id: "{account}"

# {region_note}
regions: [{listed}]
services: [ec2, ecs, eks, ecr]

# A SQLite file is enough for one process; use postgresql+psycopg://... for replicas.
store: sqlite:///auditor.db

schedule: {{scan: "every 15m"}}          # for `auditor run`

reports:
  dir: ./reports
  formats: [{", ".join(FORMATS)}]

signing: {{key_file: {key}}}   # share `auditor keys public` with your auditors

# Alerts: export AUDITOR_SLACK_WEBHOOK=https://hooks.slack.com/... (never here).
slack: {{webhook_url_env: AUDITOR_SLACK_WEBHOOK, min_severity: high}}

# Remediation stays a plan until you choose `enforce` (see docs/remediation.md).
remediation: {{mode: dry-run}}
"""


def _identity() -> tuple[str, str, list[str], str]:
    import botocore.exceptions

    from auditor.aws import AwsSessions
    from auditor.errors import BadInputError

    sessions = AwsSessions()
    try:
        sts = sessions.ambient_client("sts")
        who = sts.get_caller_identity()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise BadInputError(
            f"cannot tell who you are in AWS ({type(exc).__name__}: {exc}); set AWS_PROFILE or "
            "credentials (and AWS_REGION), then run `auditor init` again"
        ) from None
    ambient = sessions.default_region
    try:
        ec2 = sessions.ambient_client("ec2")
        found = ec2.describe_regions(
            Filters=[{"Name": "opt-in-status", "Values": ["opt-in-not-required", "opted-in"]}]
        )
        regions = sorted(r["RegionName"] for r in found["Regions"]) or [ambient]
        note = f"The {len(regions)} regions enabled for account {who['Account']} today; or: all"
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        regions = [ambient]
        note = f"ec2:DescribeRegions failed ({code}): only your current region; add the others"
    return str(who["Account"]), str(who["Arn"]), regions, note


def _write_new(path: Path, text: str, force: bool) -> None:
    from auditor.errors import BadInputError

    if path.exists() and not force:
        raise BadInputError(f"{path}: already exists; use --force to overwrite it")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def handle(args: argparse.Namespace) -> int:
    from auditor.errors import BadInputError
    from auditor.report.signing import Ed25519Signer, generate_ed25519_pem, write_private_key
    from auditor.settings import load_settings

    config: Path = args.config
    if config.exists() and not args.force:
        raise BadInputError(f"{config}: already exists; use --force to overwrite it")
    account, arn, regions, note = _identity()
    key: Path = args.key
    created_key = not key.exists()
    if created_key:
        write_private_key(key, generate_ed25519_pem())
    _write_new(config, render(account, arn, regions, note, key), args.force)
    load_settings(config)  # what we wrote must be a valid config
    print(f"wrote {config} for account {account} ({len(regions)} regions)")
    action = "created" if created_key else "kept the existing"
    key_id = Ed25519Signer.from_pem(key.read_bytes(), str(key)).key_id
    print(f"{action} signing key {key} ({key_id})")
    print(f"next: auditor scan --config {config}")
    return 0

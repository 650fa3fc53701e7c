"""Completeness benchmark (issue 11): the many-groups-few-templates fleet of the bug report.

Seeds ~200 Auto Scaling groups over ~70 launch templates of 2 versions each per
(account, region), over 2 accounts x 2 regions, on an in-process moto server; collects
the ec2 service; and counts what groups name that the snapshot lacks while no gap
explains it (must be 0), the gaps, and the verdicts of lt.ssh_keypair,
lt.userdata_secrets and asg.ami_age against what the fleet was built with.

    .venv/bin/python bench/completeness.py [--groups 200] [--templates 70]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime
from typing import Any

from auditor.aws import AwsSessions, client_config
from auditor.collect.base import PreviousState
from auditor.collect.completeness import unaccounted
from auditor.collect.runner import collect
from auditor.demo.fleet import account_session, role_arn
from auditor.demo.server import DemoServer, demo_aws_env
from auditor.demo.template_fleet import seed_template_fleet
from auditor.engine import evaluate, load_rules
from auditor.engine.history import restrict
from auditor.model import FixedClock
from auditor.settings import RulesConfig, Settings

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
RULES = ("lt.ssh_keypair", "lt.userdata_secrets", "asg.ami_age")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=200, help="groups per account x region")
    parser.add_argument("--templates", type=int, default=70, help="templates per account x region")
    args = parser.parse_args()
    now = datetime.now(UTC)
    with DemoServer() as server:
        sessions_by_account = {a: account_session(server.endpoint_url, a) for a in ACCOUNTS}

        def client_for(service: str, account: str, region: str) -> Any:
            session: Any = sessions_by_account[account]
            return session.client(service, region_name=region, endpoint_url=server.endpoint_url)

        began = time.perf_counter()
        fleet = seed_template_fleet(
            client_for,
            accounts=ACCOUNTS,
            regions=REGIONS,
            groups=args.groups,
            templates=args.templates,
            now=now,
        )
        seeded = time.perf_counter() - began
        settings = Settings(
            accounts=[{"id": a, "role_arn": role_arn(a)} for a in ACCOUNTS],
            regions=list(REGIONS),
            services=["ec2"],
        )
        os.environ.update(demo_aws_env(server.endpoint_url))
        config = client_config(settings.collect.max_attempts, read_timeout=900)
        sessions = AwsSessions(config=config)
        began = time.perf_counter()
        snapshot = collect(settings, sessions, FixedClock(now), PreviousState())
        took = time.perf_counter() - began
    all_rules = load_rules(RulesConfig())
    rules = restrict(all_rules, disabled=tuple(r.id for r in all_rules.rules if r.id not in RULES))
    evaluation = evaluate(snapshot, rules, (), FixedClock(now))
    verdicts = {
        (
            f.rule_id,
            f.resource.id
            if f.rule_id != "asg.ami_age"
            else f"{f.resource.account}/{f.resource.region}/{f.resource.id}",
        ): f.status.value
        for f in evaluation.findings
    }
    missing = unaccounted(snapshot.resources, snapshot.gaps)
    templates_named = len(fleet.templates)
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}"
    )
    print(
        f"fleet: {fleet.groups} groups over {templates_named} templates (2 versions each), "
        f"{len(ACCOUNTS)} accounts x {len(REGIONS)} regions, seeded in {seeded:.1f}s"
    )
    print(
        f"collected {len(snapshot.resources)} resources in {took:.1f}s, "
        f"{snapshot.total_api_calls} API calls, {len(snapshot.gaps)} gaps"
    )
    print(f"named but neither collected nor behind a gap: {len(missing)}")
    print(
        f"verdicts as built: {verdicts == fleet.expected} "
        f"({sum(1 for v in verdicts.values() if v == 'fail')} fail, "
        f"{sum(1 for v in verdicts.values() if v == 'unknown')} unknown)"
    )
    return 0 if not missing and verdicts == fleet.expected and not snapshot.gaps else 1


if __name__ == "__main__":
    raise SystemExit(main())

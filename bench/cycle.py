"""Cycle cost benchmark (issue 15): what a cold, an unchanged and a 1%-changed cycle cost.

    .venv/bin/python bench/cycle.py [--instances 5000] [--services N/10] [--keep DIR]

A moto server in its own process is seeded with N instances (Auto Scaling groups and pets),
N/10 ECS services, EKS and ECR. Then `auditor scan` (the installed CLI, a fresh process each
time, SQLite store, signed reports) runs:
  1. cold:      empty store, empty reports directory;
  2. warm:      nothing changed since;
  3. warm 1%:   1% of the instances re-tagged (a new configuration each) since.
For each: wall, CPU (user + system of the scan process), API calls (as the cycle recorded
them), peak RSS, rows added to the store (every table), bytes added to the store (after a
WAL checkpoint) and to the reports directory.

Last, the floor of an unchanged cycle's wall: the one read no full re-read can skip,
DescribeInstances over every instance as the collector asks for it, with nothing parsed but
NextToken. On moto this is the server rendering every instance in Python; the warm wall
minus this floor is what the scan itself adds. The "server cpu s" column is the CPU the moto
process spent answering each cycle: moto answers in one Python process, so no cycle's wall
can be shorter than it.

Targets: an unchanged cycle adds <= 20 store rows and <= 64 KB to the reports directory,
and uses <= 4 s of CPU; a 1%-changed cycle costs <= 2x an unchanged one (CPU).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditor.demo.bulk import seed_bulk
from auditor.demo.fleet import account_session, role_arn
from auditor.demo.server import DemoServer, demo_aws_env
from bench._proc import cpu_seconds, free_port

AUDITOR = Path(sys.executable).with_name("auditor")


@dataclass(frozen=True, slots=True)
class Cost:
    label: str
    rc: int
    wall_s: float
    cpu_s: float
    rss_mb: float
    api_calls: int
    rows: int
    store_bytes: int
    report_bytes: int
    link: str  # what the cycle appended to the report chain
    server_cpu_s: float  # CPU the moto server spent answering this cycle


def serve_fleet(port: int, instances: int, services: int, ready: Any, stop: Any) -> None:
    """Child process: moto on 127.0.0.1:port with the bulk fleet, until told to stop."""
    with DemoServer(port=port) as server:
        manifest = seed_bulk(
            server.endpoint_url, instances=instances, ecs_services=services, now=datetime.now(UTC)
        )
        ready.put((manifest.accounts, manifest.regions, manifest.total_resources))
        stop.wait()


def write_config(work: Path, accounts: list[str], regions: list[str]) -> Path:
    lines = [f"regions: [{', '.join(regions)}]", "accounts:"]
    for a in accounts:
        lines += [f'  - id: "{a}"', f'    role_arn: "{role_arn(a)}"']
    lines += [
        f"store: sqlite:///{work / 'auditor.db'}",
        "reports:",
        f"  dir: {work / 'reports'}",
        "signing:",
        f"  key_file: {work / 'auditor-signing.key'}",
        "remediation: {mode: dry-run}",
        # moto renders a 5,000-instance DescribeInstances page in Python; AWS takes < 1 s
        "collect: {read_timeout_seconds: 900}",
    ]
    config = work / "auditor.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def store_rows(db: Path) -> tuple[int, int]:
    """(rows in every table, bytes of the database after a WAL checkpoint)."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not str(r[0]).startswith("sqlite_")
        ]
        rows = sum(conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables)  # noqa: S608
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())
    return rows, size


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def api_calls(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT api_calls FROM cycles ORDER BY seq DESC LIMIT 1").fetchone()
    return sum(json.loads(row[0]).values()) if row else 0


def newest_link(reports: Path) -> str:
    dirs = sorted(p for p in reports.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        return "-"
    return "attestation" if (dirs[-1] / "attestation.json").is_file() else "full bundle"


def scan(
    label: str,
    work: Path,
    config: Path,
    env: dict[str, str],
    server: int,
    profile: bool = False,
) -> Cost:
    db, reports = work / "auditor.db", work / "reports"
    rows0, bytes0 = store_rows(db) if db.exists() else (0, 0)
    rep0 = dir_bytes(reports) if reports.exists() else 0
    server0 = cpu_seconds(server)
    began = time.perf_counter()
    with open(work / f"{label}.log", "wb") as log:
        command = [str(AUDITOR)]
        if profile:  # cProfile costs CPU: the numbers of a profiled cycle are not the result
            command = [sys.executable, "-m", "cProfile", "-o", str(work / f"{label}.prof")]
            command += ["-m", "auditor"]
        proc = subprocess.Popen(
            [*command, "scan", "--config", str(config)],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    server_cpu = cpu_seconds(server) - server0
    proc.returncode = os.waitstatus_to_exitcode(status)
    rows1, bytes1 = store_rows(db)
    return Cost(
        label=label,
        rc=proc.returncode,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        rss_mb=usage.ru_maxrss / 1024,
        api_calls=api_calls(db),
        rows=rows1 - rows0,
        store_bytes=bytes1 - bytes0,
        report_bytes=dir_bytes(reports) - rep0,
        link=newest_link(reports),
        server_cpu_s=server_cpu,
    )


def read_floor(endpoint: str, accounts: list[str], regions: list[str]) -> float:
    """Wall seconds of DescribeInstances over every live instance (the collector's filters
    and page size), nothing parsed but NextToken: what the server alone takes."""
    from botocore.config import Config

    from auditor.collect.ec2_instances import INSTANCE_PAGE_SIZE, LIVE_STATES
    from auditor.collect.xml_projection import projected

    clients = [
        account_session(endpoint, account).client(
            "ec2", region_name=region, endpoint_url=endpoint, config=Config(read_timeout=900)
        )
        for account in accounts
        for region in regions
    ]
    began = time.perf_counter()
    for ec2 in clients:
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": list(LIVE_STATES)}],
            MaxResults=INSTANCE_PAGE_SIZE,
        )
        with projected(ec2, "DescribeInstances", {"NextToken": None}):
            for _ in pages:
                pass
    return time.perf_counter() - began


def change_one_percent(endpoint: str, db: Path) -> int:
    """Re-tag 1% of the instances (each gets a new configuration, as a change would). The
    instance ids come from the store: listing 5,000 instances again would cost moto minutes."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT DISTINCT account, region, arn FROM resource_versions "
            "WHERE kind = 'ec2.instance' ORDER BY arn"
        ).fetchall()
    chosen = rows[:: max(1, 100)]
    for account, region, arn in chosen:
        ec2 = account_session(endpoint, account).client(
            "ec2", region_name=region, endpoint_url=endpoint
        )
        instance_id = str(arn).rsplit("/", 1)[-1]
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "bench-change", "Value": "1"}])
    return len(chosen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--services", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="work directory to keep")
    parser.add_argument(
        "--profile", action="store_true", help="also run one more unchanged cycle under cProfile"
    )
    args = parser.parse_args()
    services = args.services if args.services is not None else max(1, args.instances // 10)
    work = args.keep or Path(tempfile.mkdtemp(prefix="auditor-cycle-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=serve_fleet, args=(port, args.instances, services, ready, stop))
    began = time.perf_counter()
    child.start()
    costs: list[Cost] = []
    try:
        accounts, regions, total = ready.get(timeout=3600)
        print(f"seeded {total} resources in {time.perf_counter() - began:.0f} s; work dir {work}")
        env = {**os.environ, **demo_aws_env(endpoint)}
        config = write_config(work, list(accounts), list(regions))
        subprocess.run(
            [str(AUDITOR), "keys", "generate", "--config", str(config)],
            cwd=work,
            env=env,
            check=True,
            capture_output=True,
        )
        costs.append(scan("cold", work, config, env, child.pid))
        costs.append(scan("warm", work, config, env, child.pid))
        os.environ.update(demo_aws_env(endpoint))
        changed = change_one_percent(endpoint, work / "auditor.db")
        print(f"re-tagged {changed} instances")
        costs.append(scan("warm-1pct", work, config, env, child.pid))
        if args.profile:
            scan("profiled", work, config, env, child.pid, profile=True)
            print(f"profile of an unchanged cycle: {work / 'profiled.prof'}")
        floor = read_floor(endpoint, list(accounts), list(regions))
    finally:
        stop.set()
        child.join(timeout=60)
    print()
    header = (
        f"{'cycle':<10} {'rc':>3} {'wall s':>8} {'cpu s':>7} {'RSS MB':>7} {'API calls':>9} "
        f"{'rows':>7} {'store KB':>9} {'reports KB':>10} {'server cpu s':>12}  link"
    )
    print(header)
    print("-" * len(header))
    for c in costs:
        print(
            f"{c.label:<10} {c.rc:>3} {c.wall_s:>8.2f} {c.cpu_s:>7.2f} {c.rss_mb:>7.0f} "
            f"{c.api_calls:>9} {c.rows:>7} {c.store_bytes / 1024:>9.1f} "
            f"{c.report_bytes / 1024:>10.1f} {c.server_cpu_s:>12.2f}  {c.link}"
        )
    by = {c.label: c for c in costs}
    warm, changed_cost = by["warm"], by["warm-1pct"]
    ratio = changed_cost.cpu_s / max(warm.cpu_s, 1e-9)
    print(
        f"\nunchanged cycle: {warm.rows} rows (target <= 20), "
        f"{warm.report_bytes / 1024:.1f} KB of reports (target <= 64), "
        f"{warm.cpu_s:.2f} s CPU (target <= 4)"
    )
    print(f"1%-changed / unchanged CPU = {ratio:.2f} (target <= 2)")
    print(
        f"floor: DescribeInstances of every instance, unparsed, {floor:.2f} s; "
        f"unchanged cycle wall {warm.wall_s:.2f} s = floor + {warm.wall_s - floor:.2f} s; "
        f"the server spent {warm.server_cpu_s:.2f} s of CPU answering it"
    )
    ok = warm.rows <= 20 and warm.report_bytes <= 64 * 1024 and warm.cpu_s <= 4 and ratio <= 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

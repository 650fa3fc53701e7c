"""Scaling benchmark: one cycle over 200 accounts x 4 regions on 1, 2 and 4 worker processes.

A moto server in its own process, with a latency-injecting layer in front of it that holds
every AWS call 50 ms (a WSGI middleware: the "proxy" without an extra network hop, whose
CPU would compete with everything else on a small machine), seeded with one instance in
every (account, region); accounts are reached by assume-role, as in production. The
PostgreSQL store (a fresh schema per run, so every run is a cold cycle) and Redis (DB 10,
a queue of its own) are the real local servers. Each run starts N `auditor worker`
processes with a fixed `--concurrency`, runs one cycle from this process (the leader) and
records the collection's wall time, units/s, AWS calls/s, and every worker's peak RSS
(VmHWM).

Target (issue 16): 4 workers >= 3x faster than 1.

    .venv/bin/python bench/scale.py [--accounts 200] [--regions 4] [--concurrency 4[,1]]
        [--workers 1,2,4] [--latency-ms 50] [--services ec2,ecs,eks,ecr]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import psycopg
import redis
import yaml

from bench._proc import cpu_seconds, free_port

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_DB = 10
ALL_REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2")
BIN = Path(sys.executable).parent


# -- the moto server with latency -----------------------------------------------------------
def serve_moto(port: int, latency_ms: float) -> None:
    """(subprocess) moto's WSGI app behind a layer that delays every call."""
    import logging

    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = DomainDispatcherApplication(create_backend_app)
    delay = [latency_ms / 1000]

    def delayed(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/__bench/latency/"):  # seeding runs without the delay
            delay[0] = float(path.rsplit("/", 1)[1]) / 1000
            start_response("204 No Content", [])
            return [b""]
        if not path.startswith("/moto-api"):
            time.sleep(delay[0])
        return app(environ, start_response)

    run_simple("127.0.0.1", port, delayed, threaded=True, use_reloader=False)


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our local server
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout}s")


def set_latency(endpoint: str, ms: float) -> None:
    with urllib.request.urlopen(f"{endpoint}/__bench/latency/{ms}", timeout=5):  # noqa: S310
        pass


def account_ids(n: int) -> list[str]:
    return [f"{100000000000 + i:012d}" for i in range(1, n + 1)]


def role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/auditor"


def seed(endpoint: str, accounts: list[str], regions: tuple[str, ...]) -> None:
    """One instance in every (account, region), created through an assumed role."""

    def one(account: str) -> None:
        base = boto3.Session(region_name="us-east-1")  # the fake keys of the environment
        creds = base.client("sts", endpoint_url=endpoint).assume_role(
            RoleArn=role_arn(account), RoleSessionName="seed"
        )["Credentials"]
        for region in regions:
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=region,
            )
            session.client("ec2", endpoint_url=endpoint).run_instances(
                ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t3.micro"
            )

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, accounts))


# -- one run --------------------------------------------------------------------------------
def fresh_schema() -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema, f"{PG}?options=-csearch_path%3D{schema}"


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def write_config(
    directory: Path, store: str, accounts: list[str], args: argparse.Namespace, queue: str
) -> Path:
    config = {
        "store": store,
        "accounts": [{"id": a, "role_arn": role_arn(a)} for a in accounts],
        "regions": list(ALL_REGIONS[: args.regions]),
        "services": args.services.split(","),
        "remediation": {"mode": "off"},
        "workers": {
            "broker": f"redis://127.0.0.1:6379/{REDIS_DB}",
            "queue": queue,
            "concurrency": args.concurrency,
            "unit_timeout_seconds": 300,
            # the bench measures AWS latency, not our limiter: far above what 50 ms allows
            "rate_limit": {"per_second": 1000, "burst": 1000},
        },
    }
    path = directory / f"{queue}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_workers(n: int, config: Path, env: dict[str, str], logs: Path) -> list[Any]:
    procs = []
    for i in range(n):
        out = (logs / f"{config.stem}-w{i}.log").open("wb")
        procs.append(
            (
                subprocess.Popen(
                    [str(BIN / "auditor"), "--log-json", "worker", "--config", str(config)],
                    stdout=subprocess.DEVNULL,
                    stderr=out,
                    env=env,
                ),
                out,
                logs / f"{config.stem}-w{i}.log",
            )
        )
    deadline = time.monotonic() + 60
    for _proc, _out, path in procs:
        while b" ready." not in path.read_bytes():
            if time.monotonic() > deadline:
                raise SystemExit(f"worker did not start: {path}")
            time.sleep(0.2)
    return procs


def run_once(
    n: int, accounts: list[str], args: argparse.Namespace, env: dict[str, str], moto_pid: int
) -> dict[str, Any]:
    from auditor.pipeline import CycleOptions, run_cycle
    from auditor.settings import load_settings

    logs = Path(tempfile.mkdtemp(prefix="auditor-scale-"))
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    schema, store = fresh_schema()
    procs: list[Any] = []
    try:
        config = write_config(logs, store, accounts, args, queue)
        procs = start_workers(n, config, env, logs)
        moto_cpu = cpu_seconds(moto_pid)
        leader_cpu = time.process_time()
        worker_cpu = sum(cpu_seconds(p.pid) for p, _, _ in procs)
        began = time.perf_counter()
        result = run_cycle(
            load_settings(config),
            options=CycleOptions(write_report=False, send_alerts=False, remediate=False),
        )
        wall = time.perf_counter() - began
        moto_cpu = cpu_seconds(moto_pid) - moto_cpu
        leader_cpu = time.process_time() - leader_cpu
        snap = result.snapshot
        collect_s = (snap.finished_at - snap.started_at).total_seconds()
        rss = [peak_rss_mb(p.pid) for p, _, _ in procs]
        cpu = sum(cpu_seconds(p.pid) for p, _, _ in procs) - worker_cpu
        units = len(snap.scope.accounts) * len(snap.scope.regions) * len(snap.scope.services)
        calls = max(1, snap.total_api_calls)
        # CPU seconds one unit costs everything we measure (PostgreSQL and Redis not included)
        cpu_ms_per_unit = 1000 * (cpu + moto_cpu + leader_cpu) / units
        return {
            "workers": n,
            "concurrency": args.concurrency,
            "units": units,
            "resources": len(snap.resources),
            "gaps": len(snap.gaps),
            "collect_s": round(collect_s, 1),
            "cycle_s": round(wall, 1),
            "units_per_s": round(units / collect_s, 1),
            "calls": snap.total_api_calls,
            "calls_per_s": round(snap.total_api_calls / collect_s, 1),
            "assume_role_calls": snap.api_calls.get("sts:AssumeRole", 0),
            "peak_rss_mb_per_worker": [round(r) for r in rss],
            "worker_cpu_ms_per_unit": round(1000 * cpu / units, 1),
            "moto_cpu_ms_per_call": round(1000 * moto_cpu / calls, 1),
            "leader_cpu_s": round(leader_cpu, 1),
            "cpu_ms_per_unit": round(cpu_ms_per_unit, 1),
            # what the machine's cores could run if CPU were the only limit
            "cpu_bound_units_per_s": round(1000 * (os.cpu_count() or 1) / cpu_ms_per_unit),
            "load_average": round(os.getloadavg()[0], 1),
        }
    finally:
        for proc, _out, _ in procs:
            proc.send_signal(signal.SIGTERM)
        for proc, out, _ in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            out.close()
        drop_schema(schema)
        client = redis.Redis(db=REDIS_DB)
        for key in client.scan_iter(f"*{queue}*"):
            client.delete(key)


def print_table(concurrency: int, rows: list[dict[str, Any]]) -> None:
    base = rows[0]["collect_s"]
    print(
        f"\nconcurrency {concurrency} per worker, {os.cpu_count()} cores; CPU per unit ="
        " worker + moto + leader (PostgreSQL, Redis not counted)"
    )
    print(
        "workers  collect_s  units/s  calls/s  speedup  worker CPU/unit  CPU/unit  "
        "CPU-bound units/s  load  peak RSS per worker (MB)"
    )
    for r in rows:
        speed = base / r["collect_s"]
        print(
            f"{r['workers']:>7}  {r['collect_s']:>9}  {r['units_per_s']:>7}  "
            f"{r['calls_per_s']:>7}  {speed:>6.2f}x  {r['worker_cpu_ms_per_unit']:>12} ms  "
            f"{r['cpu_ms_per_unit']:>5} ms  {r['cpu_bound_units_per_s']:>17}  "
            f"{r['load_average']:>4}  {r['peak_rss_mb_per_worker']}"
        )
    if len(rows) > 1 and rows[0]["workers"] == 1 and rows[-1]["workers"] == 4:
        speedup = base / rows[-1]["collect_s"]
        print(f"4 workers vs 1 at concurrency {concurrency}: {speedup:.2f}x (target >= 3x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--regions", type=int, default=4, choices=range(1, len(ALL_REGIONS) + 1))
    parser.add_argument("--services", default="ec2,ecs,eks,ecr")
    parser.add_argument(
        "--concurrency",
        default="4",
        help="units at once per worker (threads); a list (4,1) runs each after one seeding",
    )
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--moto-nice", type=int, default=-10, help="priority of the moto process")
    parser.add_argument("--serve-moto", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_moto is not None:
        serve_moto(args.serve_moto, args.latency_ms)
        return 0

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto_env = {**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
    moto = subprocess.Popen(
        [sys.executable, __file__, "--serve-moto", str(port), "--latency-ms", str(args.latency_ms)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=moto_env,
    )
    # moto stands in for AWS, whose capacity is not ours to measure: on a shared machine its
    # one process must not queue behind everything else (the workers run at normal priority)
    try:
        os.setpriority(os.PRIO_PROCESS, moto.pid, args.moto_nice)
    except PermissionError:
        print(f"could not renice moto to {args.moto_nice} (not root): it may be the bottleneck")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUDITOR_"))}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's fake credentials
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
    )
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    try:
        wait_http(f"{endpoint}/moto-api/")
        accounts = account_ids(args.accounts)
        began = time.perf_counter()
        set_latency(endpoint, 0)
        seed(endpoint, accounts, ALL_REGIONS[: args.regions])
        set_latency(endpoint, args.latency_ms)
        print(
            f"seeded {len(accounts)} accounts x {args.regions} regions "
            f"in {time.perf_counter() - began:.0f} s",
            flush=True,
        )
        tables = []
        for concurrency in (int(c) for c in str(args.concurrency).split(",")):
            run_args = argparse.Namespace(**{**vars(args), "concurrency": concurrency})
            rows = []
            for n in (int(x) for x in args.workers.split(",")):
                row = run_once(n, accounts, run_args, env, moto.pid)
                rows.append(row)
                print(json.dumps(row), flush=True)
            tables.append((concurrency, rows))
        for concurrency, rows in tables:
            print_table(concurrency, rows)
        return 0
    finally:
        moto.terminate()
        moto.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())

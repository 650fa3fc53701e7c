"""Worker CPU per unit: the units of one cycle through a worker's own code path, in process.

What `auditor worker` does for every unit message (decode it, claim its row in PostgreSQL,
assume the account's role once, build the clients, collect, encode the result, finish the
row, log the unit line), minus Celery's message handling, called here in a loop from
`--concurrency` threads. The CPU time of this process divided by the units is the figure
that bounds how many units per second a machine can run (see docs/benchmarks.md,
"Distributed collection"); CPU time, unlike wall time, barely moves with the load of a
shared machine. `--profile FILE` writes a cProfile of a single-threaded run.

Same moto server, seeding, PostgreSQL schema and Redis as bench/scale.py; no latency by
default (CPU is what is measured, not waiting).

    .venv/bin/python bench/worker_cpu.py [--accounts 20] [--regions 4] [--concurrency 1]
        [--profile worker.prof] [--latency-ms 0] [--client-per-account] [--repeat 1]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).parent))

from scale import (
    ALL_REGIONS,
    REDIS_DB,
    account_ids,
    drop_schema,
    fresh_schema,
    role_arn,
    seed,
    set_latency,
    wait_http,
    write_config,
)

from bench._proc import free_port


def run(args: argparse.Namespace, accounts: list[str]) -> dict[str, Any]:
    from auditor import logs as auditor_logs
    from auditor.aws import Target
    from auditor.collect.runner import plan_units
    from auditor.model import Service
    from auditor.settings import load_settings
    from auditor.store import Store
    from auditor.workers.codec import UnitMessage, encode_message
    from auditor.workers.process import worker_context
    from auditor.workers.task import handle

    logs = Path(tempfile.mkdtemp(prefix="auditor-worker-cpu-"))
    # the unit lines, rendered as a worker renders them (`auditor --log-json worker`)
    log_file = (logs / "worker.log").open("w", encoding="utf-8")
    auditor_logs.configure("info", stream=log_file, json=True)
    queue = f"bench-cpu-{uuid.uuid4().hex[:8]}"
    schema, url = fresh_schema()
    store = None
    try:
        settings = load_settings(write_config(logs, url, accounts, args, queue))
        store = Store.open(settings.store)
        warm_up = time.process_time()
        ctx = worker_context(
            settings, store, args.concurrency, shared_clients=not args.client_per_account
        )
        warm_up = time.process_time() - warm_up
        units = plan_units(
            [Target(a, role_arn(a)) for a in accounts],
            ALL_REGIONS[: args.regions],
            [Service(s) for s in args.services.split(",")],
        )
        cycle_id = f"bench-{uuid.uuid4().hex[:8]}"
        ctx.units.enqueue(
            cycle_id, [((u.account, u.region, u.service.value), "queued") for u in units]
        )
        messages = [encode_message(UnitMessage(cycle_id, u)) for u in units]
        profile = cProfile.Profile(time.process_time) if args.profile else None
        cpu = time.process_time()
        began = time.perf_counter()
        if profile is not None:
            profile.enable()
            outcomes = [handle(ctx, m) for m in messages]
            profile.disable()
            profile.dump_stats(args.profile)
        else:
            with ThreadPoolExecutor(args.concurrency) as pool:
                outcomes = list(pool.map(lambda m: handle(ctx, m), messages))
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - began
        calls = ctx.sessions.counter.total
        return {
            "units": len(units),
            "concurrency": 1 if profile is not None else args.concurrency,
            "clients": "per account" if args.client_per_account else "shared",
            "done": outcomes.count("done"),
            "calls": calls,
            "calls_per_unit": round(calls / len(units), 2),
            "assume_role_calls": ctx.sessions.counter.calls.get("sts:AssumeRole", 0),
            "worker_cpu_ms_per_unit": round(1000 * cpu / len(units), 1),
            "warm_up_cpu_ms": round(1000 * warm_up),
            "wall_s": round(wall, 1),
            "load_average": round(os.getloadavg()[0], 1),
        }
    finally:
        if store is not None:
            store.close()
        log_file.close()
        drop_schema(schema)
        client = redis.Redis(db=REDIS_DB)
        for key in client.scan_iter(f"*{queue}*"):
            client.delete(key)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--regions", type=int, default=4, choices=range(1, len(ALL_REGIONS) + 1))
    parser.add_argument("--services", default="ec2,ecs,eks,ecr")
    parser.add_argument("--concurrency", type=int, default=1, help="threads running units")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--profile", default=None, help="cProfile output (single thread)")
    parser.add_argument(
        "--client-per-account",
        action="store_true",
        help="a client per (account, service, region), as before shared clients",
    )
    parser.add_argument("--repeat", type=int, default=1, help="cycles (a fresh schema each)")
    args = parser.parse_args()

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    scale = str(Path(__file__).parent / "scale.py")
    moto = subprocess.Popen(
        [sys.executable, scale, "--serve-moto", str(port), "--latency-ms", str(args.latency_ms)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"},
    )
    for key in [k for k in os.environ if k.startswith(("AWS_", "AUDITOR_"))]:
        del os.environ[key]
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's fake credentials
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
    )
    try:
        wait_http(f"{endpoint}/moto-api/")
        accounts = account_ids(args.accounts)
        set_latency(endpoint, 0)
        seed(endpoint, accounts, ALL_REGIONS[: args.regions])
        set_latency(endpoint, args.latency_ms)
        args.workers = "1"
        for _ in range(args.repeat):
            print(json.dumps(run(args, accounts)), flush=True)
        return 0
    finally:
        moto.terminate()
        moto.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())

"""Event feed benchmark: event-to-finding latency and AWS calls per hour vs polling.

Seeds the bulk fleet (default 5,000 instances, 500 ECS services) on a moto server in a child
process, creates the queue and the EventBridge rule that routes CloudTrail events to it, runs
one full cycle (cold) and one more (warm: what polling costs per cycle), then makes N changes
by hand (ModifyInstanceAttribute: instance type of a random instance), publishes each one's
real-shaped CloudTrail event on the bus and lets the feed pick it up:

- latency: queue receive -> micro-cycle committed (finding stored, alert queued), p50/p95;
- every change must give an open drift.ec2_modified_in_place finding naming its caller;
- AWS calls per hour to stay current with `--changes-per-hour` changes: the feed's own
  calls (re-describes, SQS receive/delete, idle long polls) plus the reconciliation full
  cycle every `--healthy-scan-hours`, against polling every 15 minutes and against polling
  as often as the feed's p95 freshness.

Targets (issue 17): p95 <= 5 s; calls per hour <= 10% of polling's at the same freshness.

    .venv/bin/python bench/events.py [--instances 5000] [--services 500] [--events 200]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from auditor.aws import AwsSessions, Target, client_config
from auditor.demo.bulk import seed_bulk
from auditor.demo.fleet import role_arn
from auditor.demo.server import DemoServer, demo_aws_env
from auditor.events.feed import EventFeed
from auditor.events.microcycle import MicroCycler
from auditor.model import Kind, Status, SystemClock
from auditor.notify.capture import CaptureTransport
from auditor.pipeline import CycleOptions, run_cycle
from auditor.settings import Settings
from auditor.store import Store
from bench._proc import free_port

QUEUE_ACCOUNT = "123456789012"  # moto's default account: where the queue and bus live
PRINCIPAL = f"arn:aws:sts::{QUEUE_ACCOUNT}:assumed-role/Operator/bench"
RULE = "drift.ec2_modified_in_place"


def serve_fleet(port: int, instances: int, services: int, ready: Any, stop: Any) -> None:
    """Child process: moto with the bulk fleet, until told to stop (its own GIL)."""
    with DemoServer(port=port) as server:
        manifest = seed_bulk(
            server.endpoint_url, instances=instances, ecs_services=services, now=datetime.now(UTC)
        )
        ready.put((manifest.accounts, manifest.regions, manifest.total_resources))
        stop.wait()


def cloudtrail(account: str, region: str, instance_id: str, event_id: str) -> dict[str, Any]:
    """A ModifyInstanceAttribute record as CloudTrail delivers it (EventBridge `detail`)."""
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROA3EXAMPLE:bench",
            "arn": PRINCIPAL,
            "accountId": account,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "arn": f"arn:aws:iam::{account}:role/Operator",
                    "accountId": account,
                    "userName": "Operator",
                }
            },
        },
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "ec2.amazonaws.com",
        "eventName": "ModifyInstanceAttribute",
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.30",
        "requestParameters": {"instanceId": instance_id, "instanceType": {"value": "m5.large"}},
        "responseElements": {"requestId": str(uuid.uuid4()), "_return": True},
        "requestID": str(uuid.uuid4()),
        "eventID": event_id,
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }


def setup_queue(endpoint: str, region: str) -> str:
    kw: dict[str, Any] = {"endpoint_url": endpoint, "region_name": region}
    sqs, events = boto3.client("sqs", **kw), boto3.client("events", **kw)
    url = str(sqs.create_queue(QueueName="auditor-events")["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(
        Name="auditor-cloudtrail",
        EventPattern=json.dumps(
            {"source": ["aws.ec2"], "detail-type": ["AWS API Call via CloudTrail"]}
        ),
    )
    events.put_targets(Rule="auditor-cloudtrail", Targets=[{"Id": "q", "Arn": arn["QueueArn"]}])
    return url


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:  # noqa: PLR0915 - one linear measurement script
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--changes-per-hour", type=int, default=100)
    parser.add_argument("--healthy-scan-hours", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()

    port = free_port()
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=serve_fleet, args=(port, args.instances, args.services, ready, stop))
    began = time.perf_counter()
    child.start()
    work = Path(tempfile.mkdtemp(prefix="bench-events-"))
    try:
        accounts, regions, total = ready.get(timeout=3600)
        print(f"seeded {total} resources in {time.perf_counter() - began:.0f} s")
        endpoint = f"http://127.0.0.1:{port}"
        os.environ.update(demo_aws_env(endpoint))
        queue = setup_queue(endpoint, regions[0])
        settings = Settings(
            accounts=tuple({"id": a, "role_arn": role_arn(a)} for a in accounts),
            regions=tuple(regions),
            store=f"sqlite:///{work / 'auditor.db'}",
            events={"queue_url": queue, "region": regions[0], "wait_seconds": 1},
            slack={"webhook_url_env": "BENCH_SLACK", "min_severity": "high"},
        )
        os.environ["BENCH_SLACK"] = "https://hooks.slack.invalid/bench"
        capture = CaptureTransport(work / "slack.jsonl")
        options = CycleOptions(write_report=False, transport=capture)
        store = Store.open(settings.store)
        # moto renders a 1,000-instance page in over a minute: give moto time, not the product
        config = client_config(settings.collect.max_attempts, read_timeout=900)

        t = time.perf_counter()
        full = {"store": store, "options": options}
        cold = run_cycle(settings, sessions=AwsSessions(config=config), **full)  # type: ignore[arg-type]
        print(
            f"cold full cycle: {len(cold.snapshot.resources)} resources, "
            f"{cold.snapshot.total_api_calls} calls, {time.perf_counter() - t:.0f} s"
        )
        t = time.perf_counter()
        warm = run_cycle(settings, sessions=AwsSessions(config=config), **full)  # type: ignore[arg-type]
        warm_calls = warm.snapshot.total_api_calls
        print(f"warm full cycle: {warm_calls} calls, {time.perf_counter() - t:.0f} s")

        sessions = AwsSessions(config=config)
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=regions[0])
        events = boto3.client("events", endpoint_url=endpoint, region_name=regions[0])
        feed = EventFeed(settings.events, sqs, SystemClock())
        cycler = MicroCycler(settings, sessions=sessions, options=options)
        running = [
            r
            for r in warm.snapshot.resources
            if r.kind is Kind.EC2_INSTANCE
            and (r.attributes.get("State") or {}).get("Name") == "running"
        ]
        chosen = random.Random(args.seed).sample(running, min(args.events, len(running)))
        latencies: list[float] = []
        micro_calls: Counter[str] = Counter()
        sqs_calls = 0
        attributed = 0
        for n, inst in enumerate(chosen):
            target = Target(inst.account, role_arn(inst.account))
            ec2 = AwsSessions().client(target, "ec2", inst.region)
            ec2.modify_instance_attribute(InstanceId=inst.id, InstanceType={"Value": "m5.large"})
            event_id = f"bench-{n}-{uuid.uuid4().hex[:8]}"
            detail = cloudtrail(inst.account, inst.region, inst.id, event_id)
            events.put_events(
                Entries=[
                    {
                        "Source": "aws.ec2",
                        "DetailType": "AWS API Call via CloudTrail",
                        "Detail": json.dumps(detail),
                    }
                ]
            )
            while True:
                result = feed.poll_once(lambda batch: cycler.run(store, batch))
                sqs_calls += 1 + (1 if result.deleted else 0)
                if result.micro is not None and result.micro.cycle is not None:
                    break
            latencies.append(result.latency_seconds)
            micro_calls.update(result.micro.cycle.snapshot.api_calls)
            findings = [
                f
                for f in result.micro.cycle.evaluation.findings
                if f.rule_id == RULE and f.resource.arn == inst.arn and f.status is Status.FAIL
            ]
            if findings and findings[0].evidence.get("changed_by", {}).get("event_id") == event_id:
                attributed += 1
            if (n + 1) % 20 == 0:
                print(f"  {n + 1} events, p50 {statistics.median(latencies):.2f} s")
        stored = [t for t in store.open_findings().values() if t.finding.rule_id == RULE]
        store.close()
    finally:
        stop.set()
        child.join(timeout=60)

    p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    per_change_collect = sum(micro_calls.values()) / len(latencies)
    per_change_sqs = sqs_calls / len(latencies)
    idle_polls = 3600 / 20  # one 20 s long poll at a time while the queue is empty
    reconcile = warm_calls / args.healthy_scan_hours
    per_change = per_change_collect + per_change_sqs
    feed_hour = args.changes_per_hour * per_change + idle_polls + reconcile
    poll_15m = 4 * warm_calls
    poll_same = (3600 / max(p95, 1e-3)) * warm_calls
    print(f"\nevents: {len(latencies)}; findings with their actor: {attributed}/{len(latencies)}")
    print(f"open {RULE} findings in the store: {len(stored)}")
    print(f"latency receive -> committed + alert queued: p50 {p50:.2f} s, p95 {p95:.2f} s, "
          f"max {max(latencies):.2f} s")  # fmt: skip
    print(f"AWS calls per micro-cycle: {per_change_collect:.2f} ({dict(micro_calls)})")
    print(f"SQS calls per event (receive + delete): {per_change_sqs:.2f}")
    print(
        f"feed, {args.changes_per_hour} changes/h: {feed_hour:.0f} calls/h "
        f"(changes {args.changes_per_hour * (per_change_collect + per_change_sqs):.0f} + idle "
        f"long polls {idle_polls:.0f} + reconciliation every {args.healthy_scan_hours:g} h "
        f"{reconcile:.0f})"
    )
    print(f"polling every 15 min: {poll_15m} calls/h (4 x {warm_calls}); "
          f"feed / polling = {feed_hour / poll_15m:.3f}")  # fmt: skip
    print(
        f"polling at the feed's freshness (every {p95:.1f} s): {poll_same:.0f} calls/h; "
        f"feed / polling = {feed_hour / poll_same:.4f} (target <= 0.10)"
    )
    ok = p95 <= 5.0 and feed_hour <= 0.10 * poll_same and attributed == len(latencies)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

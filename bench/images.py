"""What reading the images in use costs (issue 18): the ECR collector alone, cold and warm.

    .venv/bin/python bench/images.py [--images 200] [--layers]

An in-process moto server (auditor.demo.server) holds N repositories with one image each
(real config and one tar.gz layer of about 4 KB, served by the demo's blob server on
127.0.0.1); the ECR collector of one (account, region) resolves all N as images in use:
  1. cold: nothing known yet (every manifest and config read; layers too with --layers);
  2. warm: the previous result as PreviousState (nothing immutable read again).
For each: wall, CPU of this process, API calls by operation, blob downloads and bytes.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from typing import Any

import boto3

from auditor.aws import ApiCallCounter, AwsSessions, Target
from auditor.collect.base import CollectResult, PreviousState, UnitContext
from auditor.collect.ecr import collect_ecr
from auditor.collect.ecr_blobs import ImageScanOptions
from auditor.demo.registry import build_image, demo_blobs, push
from auditor.demo.server import DemoServer, demo_aws_env
from auditor.model import SystemClock

ACCOUNT = "123456789012"
REGION = "us-east-1"


def seed(endpoint: str, images: int) -> list[str]:
    ecr = boto3.client("ecr", region_name=REGION, endpoint_url=endpoint)
    refs = []
    for n in range(images):
        name = f"svc-{n:04d}"
        ecr.create_repository(repositoryName=name, imageScanningConfiguration={"scanOnPush": True})
        image = build_image(
            env=("PATH=/usr/bin", f"SERVICE={name}"),
            history=("/bin/sh -c #(nop) ADD file:1 in /", f"/bin/sh -c make {name}"),
            layers=({f"app/{name}.bin": bytes(range(256)) * 16},),
        )
        demo_blobs().add(image)
        digest = push(ecr, name, image, "1.0.0")
        ecr.start_image_scan(repositoryName=name, imageId={"imageDigest": digest})
        refs.append(f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}@{digest}")
    return refs


def run(
    label: str, sessions: AwsSessions, refs: list[str], options: ImageScanOptions, previous: Any
) -> CollectResult:
    counter = sessions.counter
    before = Counter(counter.calls)
    blobs_before = len(demo_blobs().requests)
    ctx = UnitContext(
        ACCOUNT,
        REGION,
        lambda service: sessions.client(Target(ACCOUNT), service, REGION),
        SystemClock(),
        previous,
        tuple(refs),
        counter.record,
    )
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = collect_ecr(ctx, options)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    calls = Counter(counter.calls)
    calls.subtract(before)
    used = {k.split(":", 1)[1]: v for k, v in sorted(calls.items()) if v}
    served = demo_blobs()
    asked = served.requests[blobs_before:]
    size = sum(len(served.blobs.get(d, b"")) for d in asked)
    print(
        f"{label:5} wall {wall:6.2f} s  cpu {cpu:6.2f} s  calls {sum(used.values()):5}  "
        f"downloads {len(asked):5} ({size / 1024:.0f} KB)  gaps {len(result.gaps)}  {used}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--layers", action="store_true", help="scan layers too")
    args = parser.parse_args()
    with DemoServer() as server:
        os.environ.update(demo_aws_env(server.endpoint_url))
        refs = seed(server.endpoint_url, args.images)
        sessions = AwsSessions(base=boto3.Session(region_name=REGION), counter=ApiCallCounter())
        options = ImageScanOptions(layers=args.layers)
        print(f"{args.images} images in use, layers {'on' if args.layers else 'off'}")
        cold = run("cold", sessions, refs, options, PreviousState())
        run("warm", sessions, refs, options, PreviousState.from_resources(cold.resources))


if __name__ == "__main__":
    main()

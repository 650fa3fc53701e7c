"""`auditor demo`: the whole product on an embedded moto server, no AWS account needed."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

DESCRIPTION = """\
Start an embedded moto server on 127.0.0.1, seed a realistic fleet (2 accounts x 2 regions)
with violations of every rule family, and run two full cycles against it: a baseline, then
one after some in-place changes (drift). Each cycle collects, evaluates, stores, writes a
signed report, sends Slack alerts to a local capture and plans remediation in dry-run.
No AWS account and no network are needed.

With --serve, it then serves the web app over the demo's store and reports on a free
127.0.0.1 port and prints the URL and a viewer token (Ctrl-C or SIGTERM stops it).

examples:
  auditor demo --out demo-out && auditor verify demo-out/reports --key demo-out/public.pem
  auditor demo --serve
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole product against an embedded moto server",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="output directory")
    p.add_argument(
        "--serve",
        action="store_true",
        help="then serve the web app on the demo data and print its URL and a viewer token",
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        import moto  # noqa: F401  - the demo's embedded AWS
    except ImportError:
        from auditor.errors import BadInputError

        raise BadInputError(
            "auditor demo needs the `demo` extra (moto), which is not installed: "
            "pip install 'auditor[demo]'"
        ) from None
    from auditor.commands.summary import print_summary
    from auditor.demo.changes import apply_in_place_changes
    from auditor.demo.fleet import seed_fleet
    from auditor.demo.run import demo_settings, print_extras, write_declared_state
    from auditor.demo.server import DemoServer, demo_aws_env
    from auditor.model import SystemClock
    from auditor.notify import CaptureTransport
    from auditor.pipeline import CycleOptions, run_cycle

    out: Path = args.out
    for stale in ("auditor.db", "auditor.db-wal", "auditor.db-shm", "reports", "slack.jsonl"):
        target = out / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    out.mkdir(parents=True, exist_ok=True)
    clock = SystemClock()
    with DemoServer() as server:
        os.environ.update(demo_aws_env(server.endpoint_url))
        print(f"moto server on {server.endpoint_url}; seeding the demo fleet ...", flush=True)
        manifest = seed_fleet(server.endpoint_url, now=clock.now())
        print(
            f"seeded {manifest.total_resources} resources in {len(manifest.accounts)} accounts "
            f"x {len(manifest.regions)} regions",
            flush=True,
        )
        state = write_declared_state(out, manifest)
        settings = demo_settings(out, manifest, state)
        capture = CaptureTransport(out / "slack.jsonl")
        options = CycleOptions(transport=capture)

        print("\n== cycle 1: baseline ==", flush=True)
        first = run_cycle(settings, clock=clock, options=options)
        print_summary(first)

        changes = apply_in_place_changes(server.endpoint_url, manifest)
        print("\n== in-place changes made behind the pipeline's back ==")
        for line in changes:
            print(f"  - {line}")

        print("\n== cycle 2: after the changes ==", flush=True)
        second = run_cycle(settings, clock=clock, options=options)
        print_summary(second)
        print_extras(second, capture, manifest, out, sys.stdout)
    if getattr(args, "serve", False):
        return serve_demo(settings)
    return 0


def serve_demo(settings: object) -> int:
    """The web app on the demo's store and reports, with a fresh viewer token."""
    from datetime import timedelta

    from auditor.api.server import free_port
    from auditor.api.server import serve as run
    from auditor.commands.serve import build_context
    from auditor.model import SystemClock
    from auditor.store import Store
    from auditor.store.tokens import create_token

    store = Store.open(settings.store)  # type: ignore[attr-defined]
    try:
        now = SystemClock().now()
        token = create_token(
            store.engine, f"demo-viewer-{now:%Y%m%dT%H%M%S}", now, now + timedelta(days=1)
        )
        ctx = build_context(settings, store)
        port = free_port()
        print("\n== web app ==")
        print(f"  URL:          http://127.0.0.1:{port}/")
        print(f"  viewer token: {token}")
        print("  (Ctrl-C to stop)", flush=True)
        run(ctx, "127.0.0.1", port)
    finally:
        store.close()
    return 0

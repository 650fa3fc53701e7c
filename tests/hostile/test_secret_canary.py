"""Secret canaries: plant a secret in an ECS environment variable and in EC2 user data, enable
Slack with a webhook URL that is itself a secret, run `auditor --log-level debug scan`, then
search everything the process left behind: logs, the store and the report bundle.

Zero hits allowed for the secret, the full SHA-256 of the secret (a low-entropy secret is
brute-forced from it) and the webhook URL (httpx logs every request URL at INFO)."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from tests.daemon.processes import MotoProcess
from tests.hostile.conftest import auditor, child_env

pytestmark = pytest.mark.slow

REGION = "us-east-1"
SECRET = "canary-Pa55word-7f3a9c"
WEBHOOK_TOKEN = "canaryWebhookToken9d2e41"


@pytest.fixture
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # a moto server process of its own: an in-process one shares moto's estate with every
    # other module on this worker (and a reset would wipe theirs)
    server = MotoProcess(tmp_path_factory.mktemp("moto") / "moto.log")
    endpoint = server.url
    kw = {"region_name": REGION, "endpoint_url": endpoint, "aws_access_key_id": "c",
          "aws_secret_access_key": "c"}  # fmt: skip
    ec2 = boto3.client("ec2", **kw)
    ec2.create_key_pair(KeyName="canary-ops")  # a high finding: Slack gets a message
    image = ec2.register_image(Name="base", RootDeviceName="/dev/xvda")["ImageId"]
    ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        KeyName="canary-ops",
        UserData=f"#!/bin/bash\nexport DB_PASSWORD={SECRET}\n",
    )
    ecs = boto3.client("ecs", **kw)
    ecs.create_cluster(clusterName="canary")
    arn = ecs.register_task_definition(
        family="api",
        containerDefinitions=[
            {
                "name": "api",
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:1.0",
                "memory": 256,
                "environment": [{"name": "DB_PASSWORD", "value": SECRET}],
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="canary", serviceName="api", taskDefinition=arn, desiredCount=1)
    yield endpoint
    server.stop()


@pytest.fixture
def capture() -> Iterator[tuple[str, list[bytes]]]:
    """A local HTTP server standing in for Slack's incoming webhook."""
    received: list[bytes] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/services/T0CANARY/B0CANARY/{WEBHOOK_TOKEN}"
    yield url, received
    server.shutdown()
    server.server_close()


def _inflate(blob: bytes) -> bytes:
    try:
        return zlib.decompress(blob)
    except zlib.error:
        return blob


def _store_text(db: Path) -> str:
    """Every value of every table, zlib-compressed blobs decompressed."""
    out: list[str] = []
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - our own names
                for value in row:
                    if isinstance(value, bytes):
                        out.append(_inflate(value).decode("utf-8", "replace"))
                    elif value is not None:
                        out.append(str(value))
    return "\n".join(out)


def test_no_secret_and_no_full_hash_anywhere(
    moto_endpoint: str, capture: tuple[str, list[bytes]], tmp_path: Path
) -> None:
    """Logs at DEBUG with Slack delivering, the store and the report: no canary, no full
    hash of it, no webhook URL."""
    webhook, received = capture
    key = tmp_path / "signing.key"
    assert auditor(["keys", "generate", "--out", str(key)], tmp_path).code == 0
    config = tmp_path / "auditor.yaml"
    config.write_text(
        f"store: sqlite:///{tmp_path / 'auditor.db'}\nreports: {{dir: {tmp_path / 'reports'}}}\n"
        f"signing: {{key_file: {key}}}\nservices: [ec2, ecs]\nregions: [{REGION}]\n"
        "slack: {min_severity: low}\n"
    )
    env = child_env(
        AWS_ENDPOINT_URL=moto_endpoint,
        MOTO_EC2_LOAD_DEFAULT_AMIS="false",
        AUDITOR_SLACK_WEBHOOK=webhook,
    )
    run = auditor(
        ["--log-level", "debug", "--log-json", "scan", "--config", str(config)], tmp_path, env
    )
    assert run.code in (1, 3), run.stderr[-2000:]
    assert received, "Slack was not called: the canary would prove nothing"

    needles = {
        "secret": SECRET,
        "secret sha256": hashlib.sha256(SECRET.encode()).hexdigest(),
        "webhook token": WEBHOOK_TOKEN,
        "webhook url": webhook,
    }
    haystacks = {
        "logs": run.stdout + run.stderr,
        "store": _store_text(tmp_path / "auditor.db"),
        "report": "\n".join(
            p.read_text("utf-8", "replace")
            for p in (tmp_path / "reports").rglob("*")
            if p.is_file()
        ),
    }
    assert "DB_PASSWORD" in haystacks["store"], "the planted variable was not collected"
    hits = [
        f"{what} in {where}"
        for what, needle in needles.items()
        for where, text in haystacks.items()
        if needle in text
    ]
    assert hits == []

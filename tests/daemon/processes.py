"""Real processes for the daemon tests: a moto server and `auditor run`, both subprocesses."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import boto3
import yaml

VENV_BIN = Path(sys.executable).parent
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def aws_env(endpoint_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUDITOR_"))}
    env.update(
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
    )
    return env


class MotoProcess:
    """`moto_server` on 127.0.0.1 and a free port, as a subprocess."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        wait_for("moto_server to listen", self._answers, timeout=20)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):  # noqa: S310
                return True
        except (urllib.error.URLError, OSError):
            return False

    def launch_with_ssh_key(self, region: str = REGION, count: int = 1, **run: Any) -> None:
        """`count` instances launched with the key pair "ops" (a high finding) in `region`,
        from a fresh image; `run` adds RunInstances arguments."""
        ec2 = boto3.client(
            "ec2",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        ec2.create_key_pair(KeyName="ops")
        image = ec2.register_image(Name="base", RootDeviceName="/dev/xvda")["ImageId"]
        ec2.run_instances(ImageId=image, MinCount=count, MaxCount=count, KeyName="ops", **run)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a loaded machine: moto's shutdown is not under test
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


def write_config(
    directory: Path,
    store: str,
    key: Path,
    *,
    scan: str = "every 2s",
    lease: int = 6,
    grace: int = 20,
    services: tuple[str, ...] = ("ec2", "ecs", "ecr"),
) -> Path:
    config = {
        "store": store,
        "regions": [REGION],
        "services": list(services),
        "schedule": {
            "scan": scan,
            "jitter_seconds": 0,
            "leader_lease_seconds": lease,
            "shutdown_grace_seconds": grace,
        },
        "reports": {"dir": str(directory / "reports")},
        "signing": {"key_file": str(key)},
        "remediation": {"mode": "dry-run"},
        "metrics": {"listen": "127.0.0.1:0"},
    }
    path = directory / "auditor.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class DaemonProcess:
    """`auditor run --config FILE` as a subprocess; stderr (JSON lines) goes to a file."""

    def __init__(self, config: Path, env: Mapping[str, str], name: str = "daemon") -> None:
        self.stderr_path = config.parent / f"{name}.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "auditor"), "run", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=dict(env),
        )
        started = wait_for("the daemon to start", lambda: self.events("daemon_started"), 60)
        self.port = int(started[0]["listen"].rpartition(":")[2])

    # -- output -----------------------------------------------------------------------------
    def lines(self) -> list[str]:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for line in self.lines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line still being written, or not JSON
                continue
            if name is None or record.get("event") == name:
                out.append(record)
        self._fail_if_died()
        return out

    def non_json_lines(self) -> list[str]:
        out = []
        for line in self.lines():
            try:
                json.loads(line)
            except json.JSONDecodeError:
                out.append(line)
        return out

    def cycles(self) -> list[dict[str, Any]]:
        """The canonical lines: one per completed cycle."""
        return self.events("cycle")

    def wait_cycles(self, n: int, timeout: float = 30) -> list[dict[str, Any]]:
        return list(
            wait_for(f"{n} cycle(s)", lambda: (c := self.cycles()) and len(c) >= n and c, timeout)
        )

    def _fail_if_died(self) -> None:
        code = self.proc.poll()
        if code not in (None, 0) and code != -signal.SIGKILL:
            tail = "\n".join(self.lines()[-20:])
            raise AssertionError(f"daemon exited with {code}:\n{tail}")

    # -- HTTP -------------------------------------------------------------------------------
    def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode()

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """One sample of /metrics (labels must match exactly), or None when absent."""
        _, text = self.get("/metrics")
        return parse_metric(text, name, labels or {})

    # -- ending -----------------------------------------------------------------------------
    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return int(self.proc.wait(timeout=timeout))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._stderr.close()


def parse_metric(text: str, name: str, labels: Mapping[str, str]) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and dict(sample.labels) == dict(labels):
                return float(sample.value)
    return None


def metric_samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = float(sample.value)
    return out

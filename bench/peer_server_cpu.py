"""Where the peer benchmark's wall goes: the moto server's CPU per run (issue 15).

    .venv/bin/python bench/peer_server_cpu.py [--instances 5000] [--peer ../shared/peer]

`../shared/peer/vs_auditor.sh` compares walls. On it both tools talk to one `moto_server`,
which answers in one Python process: a run cannot end before moto has finished the work the
run asked of it. This script sets up the same fleet the same way (the peer's venv,
`seed_fleet.py`, back-dated AMIs, one region), then runs Cloud Custodian with the peer's
policies, `auditor scan` on an empty store (cold) and again with nothing changed (warm), and
for each prints the wall, the CPU the moto process spent answering it (from /proc) and the
difference: what the client added on top of the server's work.

Needs the peer venv (`../shared/peer/setup.sh`) and a built `.venv`; Linux only (/proc).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._proc import cpu_seconds, free_port

ROOT = Path(__file__).resolve().parents[1]
AUDITOR = ROOT / ".venv" / "bin" / "auditor"
REGION = "us-east-1"
ACCOUNT = "123456789012"


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit(f"moto_server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"moto_server never opened port {port}")


def clean_env(venv: Path, home: Path) -> dict[str, str]:
    """The peer benchmark's environment: fake credentials, no shared AWS config."""
    return {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-creds"),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


def write_config(project: Path) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    config = project / "auditor.yaml"
    config.write_text(
        f"regions: [{REGION}]\n"
        f'accounts:\n  - id: "{ACCOUNT}"\n'
        f"store: sqlite:///{project / 'auditor.db'}\n"
        f"reports:\n  dir: {project / 'reports'}\n"
        f"signing:\n  key_file: {project / 'auditor-signing.key'}\n"
        "remediation: {mode: dry-run}\n"
    )
    return config


def timed(label: str, command: list[str], env: dict[str, str], cwd: Path, moto: int) -> None:
    cpu0, began = cpu_seconds(moto), time.perf_counter()
    with open(cwd / f"{label}.log", "wb") as log:
        # a scan exits 1 when it finds violations: the time is what counts
        subprocess.run(command, check=False, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    wall, server = time.perf_counter() - began, cpu_seconds(moto) - cpu0
    print(
        f"{label:<13} wall {wall:7.2f} s   moto CPU {server:7.2f} s   "
        f"client on top {wall - server:6.2f} s",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--peer", type=Path, default=ROOT.parent / "shared" / "peer")
    parser.add_argument(
        "--venv", type=Path, default=Path(tempfile.gettempdir()) / "auditor-peer-venv"
    )
    args = parser.parse_args()
    py, custodian = args.venv / "bin" / "python", args.venv / "bin" / "custodian"
    if not custodian.exists():
        sys.exit(f"no peer venv at {args.venv}: run {args.peer / 'setup.sh'} first")
    work = Path(tempfile.mkdtemp(prefix="auditor-peer-cpu-"))
    env = clean_env(args.venv, work)
    seed = str(args.peer / "seed_fleet.py")
    subprocess.run(
        [py, seed, "--write-moto-amis", str(work / "amis.json"), "--seed", "42"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with open(work / "moto.log", "wb") as log:
        moto = subprocess.Popen(
            [str(args.venv / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            env={**env, "MOTO_AMIS_PATH": str(work / "amis.json")},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_port(port, moto)
        n = args.instances
        began = time.perf_counter()
        subprocess.run(
            [py, seed, "--endpoint", endpoint, "--instances", str(n), "--services",
             str(max(1, n // 10)), "--clusters", str(max(2, n // 250)), "--seed", "42",
             "--reset", "--ground-truth", str(work / "ground_truth.json")],
            env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        print(f"seeded {n} instances in {time.perf_counter() - began:.0f} s; work dir {work}")
        run_env = {**env, "AWS_ENDPOINT_URL": endpoint}
        c7n = [str(custodian), "run", "-s", str(work / "c7n-out"), "-r", REGION,
               "--cache", "memory", str(args.peer / "c7n_policies.yml")]  # fmt: skip
        timed("c7n", c7n, run_env, work, moto.pid)
        config = write_config(work / "project")
        subprocess.run([str(AUDITOR), "keys", "generate", "--config", str(config)],
                       env=run_env, cwd=config.parent, check=True, capture_output=True)  # fmt: skip
        scan = [str(AUDITOR), "scan", "--config", str(config)]
        timed("auditor-cold", scan, run_env, config.parent, moto.pid)
        timed("auditor-warm", scan, run_env, config.parent, moto.pid)
    finally:
        moto.terminate()
        moto.wait(timeout=30)
    shutil.rmtree(work / "c7n-out", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Hostile and broken input: the data files under data/ and how to run the real CLI on them.

Every file is one input a new user or an attacker could hand us. A YAML file may start with
`# expect: <text>`: the error must contain that text as well as the file's name.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"
CHILD_MEMORY_BYTES = 2 * 1024**3  # address space: an alias bomb would need far more
CHILD_CPU_SECONDS = 60
CHILD_TIMEOUT_SECONDS = 90


def files(family: str) -> list[Path]:
    return sorted(p for p in (DATA / family).iterdir() if p.is_file())


def expect_of(path: Path) -> str | None:
    """The `# expect: ...` text on a data file's first line, if it has one."""
    head = path.read_bytes()[:300].split(b"\n", 1)[0]
    if head.startswith(b"# expect: "):
        return head[len(b"# expect: ") :].decode()
    return None


def _limits() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CHILD_CPU_SECONDS, CHILD_CPU_SECONDS))


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUDITOR_"))}
    env.update(
        AWS_ACCESS_KEY_ID="hostile",
        AWS_SECRET_ACCESS_KEY="hostile",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",  # nothing listens: no real AWS, ever
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


def auditor(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    """`python -m auditor ARGS` in `cwd`, under memory and CPU limits and a timeout."""
    done = subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        cwd=cwd,
        env=env or child_env(),
        capture_output=True,
        timeout=CHILD_TIMEOUT_SECONDS,
        preexec_fn=_limits,
        check=False,
    )
    return Run(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def assert_refused(run: Run, source: str, expect: str | None = None) -> None:
    """Exit 2, no traceback, and every line of the message names where the input came from
    (a multi-problem message is a count line, then one line per problem)."""
    assert run.code == 2, (run.code, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines, "no message on stderr"
    assert lines[0].startswith("auditor: error: ") or source in lines[0], lines
    problems = [
        line
        for line in lines
        if not line.endswith(":") and not line.endswith(("problem", "problems"))
    ]
    assert problems, lines
    assert all(source in line for line in problems), (source, lines)
    if expect is not None:
        assert expect in run.stderr, (expect, run.stderr)

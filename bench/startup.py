"""Import time of `auditor --help` and of `auditor scan` (issue 15: each under 0.5 s).

    .venv/bin/python bench/startup.py [--repeat 5]

Runs `python -X importtime` in a fresh interpreter for what each command imports before it
does any work (`auditor --help`: the CLI and every command's parser; `auditor scan`: that
plus the modules its handler imports: the pipeline, settings, the summary printer) and
prints the best of N total import times (the sum of top-level cumulative times), with the
ten slowest top-level packages of the last run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

COMMANDS = {
    "auditor --help": "import auditor.cli as c; c.build_parser()",
    "auditor scan": (
        "import auditor.cli as c; c.build_parser(); import auditor.commands.summary, "
        "auditor.pipeline, auditor.settings, auditor.logs"
    ),
}
TARGET_S = 0.5


def measure(code: str) -> tuple[float, list[tuple[float, str]]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),  # import the installed package, not ./auditor
    )
    total = 0.0
    top: list[tuple[float, str]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if name.startswith(" ") and not name.startswith("  "):
            seconds = int(cumulative) / 1e6
            total += seconds
            top.append((seconds, name.strip()))
    return total, sorted(top, reverse=True)[:10]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ok = True
    for label, code in COMMANDS.items():
        runs = [measure(code) for _ in range(args.repeat)]
        best = min(t for t, _ in runs)
        ok = ok and best <= TARGET_S
        print(f"{label}: best of {args.repeat} import time {best:.3f} s (target <= {TARGET_S} s)")
        for seconds, name in runs[-1][1]:
            print(f"    {seconds:7.3f} s  {name}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

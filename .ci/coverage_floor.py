"""Fail when line coverage falls under the floors: 90% overall and 85% for every package of
`auditor` (top-level modules count as the package `auditor`). Reads coverage's JSON report.

    python .ci/coverage_floor.py coverage.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

OVERALL = 90.0
PER_PACKAGE = 85.0


def package_of(path: str) -> str:
    parts = Path(path).parts
    i = parts.index("auditor")
    return "auditor" if len(parts) - i <= 2 else f"auditor.{parts[i + 1]}"


def main(report: str) -> int:
    data = json.loads(Path(report).read_text(encoding="utf-8"))
    covered: dict[str, int] = defaultdict(int)
    statements: dict[str, int] = defaultdict(int)
    for path, info in data["files"].items():
        pkg = package_of(path)
        covered[pkg] += info["summary"]["covered_lines"]
        statements[pkg] += info["summary"]["num_statements"]
    total = data["totals"]["percent_covered"]
    failures = []
    print(f"{'package':28} {'lines':>7} {'covered':>8}")
    for pkg in sorted(statements):
        pct = 100.0 * covered[pkg] / statements[pkg] if statements[pkg] else 100.0
        mark = "" if pct >= PER_PACKAGE else f"  < {PER_PACKAGE:.0f}% floor"
        print(f"{pkg:28} {statements[pkg]:7d} {pct:7.1f}%{mark}")
        if mark:
            failures.append(pkg)
    print(f"{'TOTAL':28} {sum(statements.values()):7d} {total:7.1f}%")
    if total < OVERALL:
        failures.append(f"overall {total:.1f}% < {OVERALL:.0f}%")
    if failures:
        print("coverage floor not met: " + ", ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "coverage.json"))

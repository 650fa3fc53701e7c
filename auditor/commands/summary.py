"""The human summary of a cycle that `auditor scan` and `auditor demo` print."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from auditor.collect.runner import ProgressCallback, UnitDone
from auditor.model import Severity, Status
from auditor.pipeline import CycleResult

SEVERITY_ORDER = [s.value for s in sorted(Severity, key=lambda s: -s.rank)]


@contextmanager
def live_progress(
    units: int | None, stream: TextIO | None = None, *, enabled: bool = True
) -> Iterator[ProgressCallback | None]:
    """Live progress per account and region on a terminal; nothing otherwise (logs say it)."""
    out = stream or sys.stderr
    if not enabled or not out.isatty():
        yield None
        return
    console = Console(file=out)
    columns = (
        TextColumn("[bold]collecting[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("collect", total=units, last="")

        def on_done(unit: UnitDone) -> None:
            last = f"{unit.account} {unit.region} {unit.service.value}: {unit.resources} resources"
            if unit.gaps:
                last += f", [red]{unit.gaps} gaps[/]"
            progress.update(task, advance=1, last=last)

        yield on_done


def print_summary(
    result: CycleResult, out: TextIO | None = None, *, min_severity: Severity | None = None
) -> None:
    """Tables of what was collected and found; `min_severity` hides findings below it."""
    console = Console(file=out or sys.stdout, width=120)
    snap = result.snapshot
    kinds = Table(title=f"Cycle {result.cycle_id}", show_edge=False)
    kinds.add_column("resource kind")
    kinds.add_column("count", justify="right")
    for kind, n in sorted(Counter(r.kind.value for r in snap.resources).items()):
        kinds.add_row(kind, str(n))
    kinds.add_row("[bold]total[/]", f"[bold]{len(snap.resources)}[/]")
    console.print(kinds)
    console.print(
        f"accounts {len(snap.scope.accounts)}, regions {len(snap.scope.regions)}, "
        f"API calls {snap.total_api_calls}, duration {result.duration_seconds:.1f}s"
    )
    if snap.gaps:
        console.print(f"[bold red]coverage INCOMPLETE: {len(snap.gaps)} gap(s)[/]")
        for gap in snap.gaps[:20]:
            where = gap.resource_arn or f"{gap.account} {gap.region} {gap.service.value}"
            console.print(f"  - {where}: {gap.error_code} on {gap.operation}")
    else:
        console.print("[green]coverage complete[/]")

    findings = result.evaluation.findings
    if min_severity is not None:
        findings = tuple(f for f in findings if f.severity.at_least(min_severity))
    title = "Findings by rule" + (
        f" (severity {min_severity.value} and above)" if min_severity else ""
    )
    rules = Table(title=title, show_edge=False)
    rules.add_column("rule")
    rules.add_column("severity")
    for status in Status:
        rules.add_column(status.value, justify="right")
    per_rule: dict[str, Counter[str]] = {}
    severity_of: dict[str, str] = {}
    for f in findings:
        per_rule.setdefault(f.rule_id, Counter())[f.status.value] += 1
        severity_of[f.rule_id] = f.severity.value
    for rule_id in sorted(per_rule, key=lambda r: (SEVERITY_ORDER.index(severity_of[r]), r)):
        c = per_rule[rule_id]
        rules.add_row(rule_id, severity_of[rule_id], *(str(c[s.value]) for s in Status))
    console.print(rules)
    sev = Counter(f.severity.value for f in findings if f.status is Status.FAIL)
    console.print(
        "failing by severity: " + ", ".join(f"{s} {sev.get(s, 0)}" for s in SEVERITY_ORDER)
    )
    d = result.delta
    console.print(
        f"delta: {len(d.new)} new, {len(d.still_open)} still open, {len(d.resolved)} resolved"
    )

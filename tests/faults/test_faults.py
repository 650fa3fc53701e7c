"""Injected AWS faults never resolve, exempt or re-date a finding, and a cycle always ends.

For each fault (AccessDenied, throttling past retries, connection reset, a black hole,
503) at each level (Organizations, STS, one account, one region, one service, one
operation), after a clean cycle with open findings, the faulty cycle: exits 3, reports
`coverage.complete: false` with exactly the scope that was faulted, resolves nothing,
sends no "resolved" (nor "new") alert, keeps every first-seen date, and ends within its
deadline; the next clean cycle then changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from auditor.errors import ExitCode
from auditor.model import ANY, Severity, Status
from tests.faults.conftest import CYCLE_DEADLINE, MASTER, REGIONS, SERVICES, World
from tests.faults.proxy import Fault, Rule

Scope = set[tuple[str, str, str]]
# level -> (rule for the member account id, the (account, region, service) gaps expected)
LEVELS: dict[str, Callable[[str], tuple[Rule, Scope, str | None]]] = {
    "organizations": lambda m: (
        Rule(Fault.DENIED, service="organizations"),
        {(ANY, ANY, s) for s in SERVICES},
        None,
    ),
    "sts": lambda m: (Rule(Fault.DENIED, service="sts"), {(ANY, ANY, s) for s in SERVICES}, None),
    "account": lambda m: (
        Rule(Fault.DENIED, account=m),
        {(m, r, s) for r in REGIONS for s in SERVICES},
        None,
    ),
    "region": lambda m: (
        Rule(Fault.DENIED, region=REGIONS[1]),
        {(a, REGIONS[1], s) for a in (MASTER, m) for s in SERVICES},
        None,
    ),
    "service": lambda m: (
        Rule(Fault.DENIED, service="ecs"),
        {(a, r, "ecs") for a in (MASTER, m) for r in REGIONS},
        None,
    ),
    "operation": lambda m: (
        Rule(Fault.DENIED, service="ec2", operation="DescribeLaunchTemplateVersions"),
        {(a, r, "ec2") for a in (MASTER, m) for r in REGIONS},
        "ec2:DescribeLaunchTemplateVersions",
    ),
}


def _slack_titles(world: World) -> list[str]:
    return [str(p.get("text", "")) for p in world.slack.payloads()]


@pytest.mark.parametrize("fault", list(Fault), ids=str)
@pytest.mark.parametrize("level", list(LEVELS))
def test_a_fault_changes_no_finding_and_the_cycle_ends(
    world: World, clean: Path, level: str, fault: Fault
) -> None:
    before = world.open_findings(clean)
    assert any(t.finding.status is Status.FAIL for t in before.values())
    rule, expected, operation = LEVELS[level](world.member)
    world.proxy.inject(Rule(fault, rule.service, rule.operation, rule.region, rule.account))

    began = time.monotonic()
    faulty = world.cycle(clean)
    took = time.monotonic() - began

    assert world.proxy.faulted(), "the fault was never hit"
    assert faulty.exit_code(Severity.CRITICAL) is ExitCode.INCOMPLETE
    assert faulty.report_dir is not None
    report = json.loads((faulty.report_dir / "report.json").read_text())
    assert report["coverage"]["complete"] is False
    gaps = report["coverage"]["gaps"]
    assert {(g["account"], g["region"], g["service"]) for g in gaps} == expected
    if operation is not None:
        assert {g["operation"] for g in gaps} == {operation}
    assert faulty.delta.resolved == ()
    after = world.open_findings(clean)
    assert set(after) >= set(before)
    assert {i: after[i].first_seen for i in before} == {i: t.first_seen for i, t in before.items()}
    titles = _slack_titles(world)
    assert not [t for t in titles if "resolved" in t or "new violation" in t], titles
    assert took < CYCLE_DEADLINE + 5

    world.proxy.clear()
    world.slack.received.clear()
    recovered = world.cycle(clean)
    assert recovered.snapshot.gaps == ()
    assert [t.id for t in recovered.delta.new] == []
    # only what the faulty cycle could not judge resolves: its scope placeholders and the
    # resources it saw without the data a rule needs (unknown, never open before)
    assert [t for t in recovered.delta.resolved if t.id in before] == []
    assert {t.finding.status for t in recovered.delta.resolved} <= {Status.UNKNOWN}
    again = world.open_findings(clean)
    assert {i: (t.finding.status, t.first_seen) for i, t in again.items()} == {
        i: (t.finding.status, t.first_seen) for i, t in before.items()
    }
    titles = _slack_titles(world)
    assert not [t for t in titles if "resolved" in t or "new violation" in t], titles

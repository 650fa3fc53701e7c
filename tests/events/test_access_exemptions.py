"""Exemptions by principal: a break-glass role's shells are exempt until the exemption expires;
one session by anyone else keeps the finding failing."""

from __future__ import annotations

from datetime import date, timedelta

from auditor.engine import evaluate
from auditor.engine.exemptions import Exemption
from auditor.engine.rules import RuleSet
from auditor.model import (
    AccessRecord,
    Attribution,
    FixedClock,
    History,
    Scope,
    Service,
    Snapshot,
    Status,
)
from tests.checks.resources import ACCOUNT, REGION, instance
from tests.checks.test_builtin_rules import builtin
from tests.conftest import NOW
from tests.events import cloudtrail as ct

BREAK_GLASS = Exemption(
    rule="access.*",
    reason="incident response",
    owner="sre",
    expires=date(2026, 12, 31),
    source="config",
    principal="arn:aws:sts::*:assumed-role/BreakGlass/*",
)


def _status(*principals: str, at: date | None = None) -> Status:
    subject = instance()
    records = tuple(
        AccessRecord(
            "ssm_session",
            subject.arn,
            f"s-{i}",
            Attribution(
                event_id=f"ev-{i}",
                event_name="StartSession",
                event_source="ssm.amazonaws.com",
                event_time=NOW - timedelta(minutes=5),
                principal_arn=p,
            ),
        )
        for i, p in enumerate(principals)
    )
    rule = builtin().get("access.ssm_session")
    assert rule is not None
    snap = Snapshot("s", NOW, NOW, Scope((ACCOUNT,), (REGION,), tuple(Service)), (subject,), (), {})
    clock = FixedClock(NOW if at is None else NOW.replace(year=at.year, month=at.month, day=at.day))
    result = evaluate(
        snap,
        RuleSet((rule,)),
        (BREAK_GLASS,),
        clock,
        history=History(access={subject.arn: records}),
    )
    (finding,) = result.findings
    return finding.status


def test_break_glass_sessions_are_exempt() -> None:
    assert _status(ct.BREAK_GLASS) is Status.EXEMPT


def test_one_other_caller_keeps_the_finding_failing() -> None:
    assert _status(ct.BREAK_GLASS, ct.ALICE) is Status.FAIL


def test_the_exemption_expires_by_itself() -> None:
    assert _status(ct.BREAK_GLASS, at=date(2027, 1, 1)) is Status.FAIL

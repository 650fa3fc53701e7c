"""Pass, fail and unknown cases for the access.* rules (shells recorded by the event feed)."""

from __future__ import annotations

from datetime import timedelta

from auditor.model import AccessRecord, Attribution, History, Resource
from tests.checks.cases import Case
from tests.checks.resources import ecs_task, instance
from tests.conftest import NOW

ROLE = "arn:aws:sts::111111111111:assumed-role/Admin/alice"


def shell(kind: str, subject: Resource, name: str) -> AccessRecord:
    who = Attribution(
        event_id=f"ev-{kind}",
        event_name=name,
        event_source="ssm.amazonaws.com",
        event_time=NOW - timedelta(minutes=5),
        principal_arn=ROLE,
        source_ip="203.0.113.7",
    )
    return AccessRecord(kind, subject.arn, f"alice-{kind}", who)


def _three(rule: str, kind: str, subject: Resource, name: str, other: str) -> tuple[Case, ...]:
    return (
        Case(rule, "shell-opened", "fail", subject, history=History(
            access={subject.arn: (shell(kind, subject, name),)}
        )),
        Case(rule, "no-shell", "pass", subject, history=History(access={})),
        # a shell of another kind on the same resource is another rule's finding
        Case(rule, "other-kind-only", "pass", subject, history=History(
            access={subject.arn: (shell(other, subject, "X"),)}
        )),
        # no feed was read: a shell would not be known
        Case(rule, "no-feed", "unknown", subject, history=History()),
    )  # fmt: skip


ACCESS_CASES: tuple[Case, ...] = (
    *_three("access.ssm_session", "ssm_session", instance(), "StartSession", "instance_connect"),
    *_three(
        "access.instance_connect", "instance_connect", instance(), "SendSSHPublicKey", "ssm_session"
    ),
    *_three("access.ecs_exec", "ecs_exec", ecs_task(), "ExecuteCommand", "ssm_session"),
)

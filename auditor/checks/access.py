"""Shells opened on running things: SSM sessions, EC2 Instance Connect, ECS Exec.

The events come from the feed (CloudTrail StartSession, SendSSHPublicKey /
SendSerialConsoleSSHPublicKey, ExecuteCommand) and reach a check through the history, as
plain records. A resource a shell was opened on stays tainted until it is replaced: its
running state may differ from its build in ways no collector can see.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.checks.result import PASS, CheckResult, fail, unknown
from auditor.checks.spec import CheckSpec
from auditor.model import JSON, Clock, Resource, SnapshotView

_LABEL = {
    "ssm_session": "SSM session",
    "instance_connect": "EC2 Instance Connect key push",
    "ecs_exec": "ECS Exec session",
}


def _shells(kind: str, resource: Resource, view: SnapshotView) -> CheckResult:
    records = view.access(resource.arn)
    if records is None:
        return unknown("no event feed was read: shells opened on this resource are not known")
    mine = [r for r in records if r.kind == kind]
    if not mine:
        return PASS
    last = mine[-1]
    who = last.attribution
    principals = sorted({r.attribution.principal_arn or "unknown" for r in mine})
    sessions: list[JSON] = [
        {
            "session_id": r.session_id,
            "principal_arn": r.attribution.principal_arn,
            "sso_user": r.attribution.sso_user,
            "event_name": r.attribution.event_name,
            "event_id": r.attribution.event_id,
            "at": r.attribution.to_json()["event_time"],
            "source_ip": r.attribution.source_ip,
        }
        for r in mine
    ]
    evidence: dict[str, JSON] = {
        "sessions": sessions,
        "principals": list(principals),
        "changed_by": {"actor": who.actor, **who.to_json()},
    }
    label = _LABEL[kind]
    count = f"{len(mine)} times, last" if len(mine) > 1 else "once"
    return fail(
        f"{label} opened {count} by {who.actor} at {who.to_json()['event_time']}"
        + (f" (session {last.session_id})" if last.session_id else ""),
        evidence,
    )


def access_ssm_session(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    return _shells("ssm_session", resource, view)


def access_instance_connect(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    return _shells("instance_connect", resource, view)


def access_ecs_exec(
    resource: Resource, params: Mapping[str, Any], view: SnapshotView, clock: Clock
) -> CheckResult:
    return _shells("ecs_exec", resource, view)


CHECKS: Mapping[str, CheckSpec] = {
    "access_ecs_exec": CheckSpec(access_ecs_exec),
    "access_instance_connect": CheckSpec(access_instance_connect),
    "access_ssm_session": CheckSpec(access_ssm_session),
}

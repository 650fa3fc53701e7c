"""Carry out a plan: the only remediation code that calls AWS, and only in enforce mode.

Dry-run makes zero AWS calls (it does not even build a client: building one may assume a
role). In enforce mode each planned item is one API call; its request id and a trimmed
response are recorded, a failure is recorded with AWS's error code and message, and one
failure never stops the others. Items that were not planned pass through unchanged.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from auditor.aws import AwsSessions, error_code, error_message
from auditor.aws import Target as AwsTarget
from auditor.model import JSON, ActionRecord, ActionStatus, Clock, iso
from auditor.remediate.actions import ACTIONS
from auditor.remediate.plan import Plan, PlanItem
from auditor.settings import RemediationConfig

# (account, region, boto3 service name) -> a boto3 client
ClientFor = Callable[[str, str, str], Any]

KILL_SWITCH_ENV = "AUDITOR_REMEDIATION_KILL_SWITCH"
_TRUE = frozenset({"1", "true", "yes", "on"})
_MAX_ITEMS = 10
_MAX_TEXT = 300
_MAX_DEPTH = 4


def kill_switch_engaged(
    config: RemediationConfig, environ: Mapping[str, str] | None = None
) -> bool:
    """The kill switch is on if the config says so OR the environment variable is set
    (`environ`: the process environment when None)."""
    env = os.environ if environ is None else environ
    return config.kill_switch or env.get(KILL_SWITCH_ENV, "").strip().lower() in _TRUE


def trim(value: Any, depth: int = 0) -> JSON:
    """A small JSON-safe copy of an AWS response, for the audit trail."""
    if isinstance(value, datetime):
        return iso(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= _MAX_TEXT else value[:_MAX_TEXT] + "..."
    if depth >= _MAX_DEPTH:
        return "..."
    if isinstance(value, Mapping):
        return {str(k): trim(v, depth + 1) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [trim(v, depth + 1) for v in list(value)[:_MAX_ITEMS]]
    return str(value)[:_MAX_TEXT]


def _trail(item: PlanItem) -> dict[str, JSON]:
    spec = ACTIONS[item.record.action]
    return {
        "operation": spec.operation,
        "request": dict(item.request),
        "instances": list(item.instances),
    }


def _call(item: PlanItem, client_for: ClientFor, clock: Clock) -> ActionRecord:
    record = item.record
    spec = ACTIONS[record.action]
    trail = _trail(item)
    try:
        client = client_for(record.account, record.region, spec.client)
        response = getattr(client, spec.method)(**item.request)
    except Exception as exc:  # one failure must never stop the other actions
        code, message = error_code(exc), error_message(exc)
        return dataclasses.replace(
            record,
            status=ActionStatus.FAILED,
            reason=f"{spec.operation} failed: {code}: {message}",
            at=clock.now(),
            response={**trail, "error": {"code": code, "message": message}},
        )
    metadata = response.get("ResponseMetadata", {}) if isinstance(response, Mapping) else {}
    request_id = metadata.get("RequestId")
    return dataclasses.replace(
        record,
        status=ActionStatus.EXECUTED,
        at=clock.now(),
        request_id=str(request_id) if request_id else None,
        response={**trail, "response": trim(response)},
    )


def execute(
    plan: Plan,
    client_for: ClientFor,
    mode: str,
    clock: Clock,
    environ: Mapping[str, str] | None = None,
) -> tuple[ActionRecord, ...]:
    """Run the planned items of `plan` (enforce) or record what would run (dry-run).

    Only a plan made in enforce mode, executed in enforce mode, calls AWS. `environ` (the
    process environment when None) is read once more here: setting the kill switch variable
    between planning and execution still stops every call.
    """
    if environ is None:
        environ = os.environ
    enforce = mode == "enforce" and plan.mode == "enforce"
    stopped = enforce and environ.get(KILL_SWITCH_ENV, "").strip().lower() in _TRUE
    out: list[ActionRecord] = []
    for item in plan.items:
        record = item.record
        if record.status is not ActionStatus.PLANNED:
            out.append(record)
        elif not enforce or record.mode != "enforce":
            out.append(dataclasses.replace(record, response={**_trail(item), "dry_run": True}))
        elif stopped:
            out.append(
                dataclasses.replace(
                    record,
                    status=ActionStatus.HELD,
                    reason=f"kill switch {KILL_SWITCH_ENV} engaged at execution time",
                    at=clock.now(),
                )
            )
        else:
            out.append(_call(item, client_for, clock))
    return tuple(out)


def session_client_for(sessions: AwsSessions, role_arns: Mapping[str, str | None]) -> ClientFor:
    """A ClientFor over auditor's sessions: `role_arns` maps account -> role to assume."""

    def client_for(account: str, region: str, service: str) -> Any:
        return sessions.client(AwsTarget(account, role_arns.get(account)), service, region)

    return client_for

"""Declared state for a cycle: every configured Terraform state, local or on S3."""

from __future__ import annotations

import dataclasses
from typing import Any

from auditor.aws import AwsSessions, Target, error_code, error_message
from auditor.engine import RuleSet
from auditor.iac.terraform import MAX_STATE_BYTES, load_states, state_gap
from auditor.model import Clock, CollectionGap, Snapshot
from auditor.settings import Settings

IAC_CHANGED_RULE = "iac.changed"


def with_declared_state(
    snapshot: Snapshot, settings: Settings, rules: RuleSet, sessions: AwsSessions, clock: Clock
) -> Snapshot:
    """Add what Terraform declares (iac.resource) to the snapshot, with gaps for unreadable
    state objects. A malformed state file raises StateError (exit 2) before anything is
    written."""
    patterns = settings.iac.terraform_states
    if not patterns:
        return snapshot
    rule = rules.get(IAC_CHANGED_RULE)
    compare = rule.params.get("compare", {}) if rule is not None else {}
    self_target = Target(account_id="self")

    def s3(bucket: str) -> Any:
        return sessions.client(self_target, "s3", sessions.default_region)

    def get(bucket: str, key: str) -> bytes:
        body = s3(bucket).get_object(Bucket=bucket, Key=key)["Body"]
        return bytes(body.read(MAX_STATE_BYTES + 1))  # decode_state refuses what is over

    def list_keys(bucket: str, prefix: str) -> list[str]:
        pages = s3(bucket).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def on_error(pattern: str, exc: BaseException) -> CollectionGap:
        return state_gap(pattern, "s3:GetObject", error_code(exc), error_message(exc))

    loaded = load_states(patterns, compare, clock.now(), get, list_keys, on_error)
    return dataclasses.replace(
        snapshot,
        resources=snapshot.resources + loaded.resources,
        gaps=snapshot.gaps + loaded.gaps,
        api_calls=dict(sorted(sessions.counter.calls.items())),
    )

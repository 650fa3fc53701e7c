"""The history drift rules read, and the rule set a cycle actually runs.

Pure: the pipeline reads baselines from the store and hands them here as plain values.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from auditor.engine.errors import RuleError
from auditor.engine.params import check_value
from auditor.engine.rules import RuleSet
from auditor.model import Baseline, History, Kind, Resource, Snapshot
from auditor.settings import SecretsConfig


class VersionLike(Protocol):
    """What the store's ResourceVersion offers (the engine does not import the store)."""

    @property
    def resource(self) -> Resource: ...
    @property
    def first_seen(self) -> datetime: ...
    @property
    def first_snapshot_id(self) -> str: ...


def baseline_kinds(rules: RuleSet) -> frozenset[Kind]:
    """Kinds whose baselines the loaded rules compare with: the only ones worth loading."""
    return frozenset(
        kind
        for r in rules.rules
        if r.spec is not None and r.spec.needs_baseline
        for kind in r.info.applies_to
    )


def build_history(versions: Mapping[str, VersionLike], previous: Snapshot | None) -> History:
    """The History a cycle evaluates with: each resource's baseline and the previous snapshot."""
    return History(
        baselines={
            arn: Baseline(v.resource, v.first_seen, v.first_snapshot_id)
            for arn, v in versions.items()
        },
        previous=previous,
    )


def baseline_arns(snapshot: Snapshot, kinds: Iterable[Kind]) -> list[str]:
    """The ARNs in the snapshot of the kinds whose baselines are compared."""
    watched = frozenset(kinds)
    return [r.arn for r in snapshot.resources if r.kind in watched]


def restrict(
    rules: RuleSet,
    *,
    disabled: Sequence[str] = (),
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> RuleSet:
    """The rule set without the rules matching `disabled` (globs), with param overrides on
    rules that are loaded and take them. Used by the pipeline for what depends on the
    environment (no Terraform state configured, CloudFormation not counted as managed)."""
    kept = [r for r in rules.rules if not any(fnmatch.fnmatchcase(r.id, p) for p in disabled)]
    out = []
    problems: list[str] = []
    for rule in kept:
        overrides = (params or {}).get(rule.id) or {}
        values = dict(rule.params)
        if overrides and rule.spec is None:
            problems.append(f"{rule.source}: rule {rule.id}: params: only check rules here")
            continue
        for name, value in overrides.items():
            spec = rule.param_specs.get(name)
            why = "unknown param" if spec is None else check_value(spec, value)
            if why is not None:
                problems.append(f"{rule.source}: rule {rule.id}: params.{name}: {why}")
                continue
            values[name] = value
        validate = rule.spec.validate_params if rule.spec is not None else None
        for why in validate(values) if validate is not None and overrides else ():
            problems.append(f"{rule.source}: rule {rule.id}: params: {why}")
        out.append(replace(rule, params=values) if overrides else rule)
    if problems:
        raise RuleError(problems)
    return RuleSet(tuple(out))


ALLOWLIST_PARAM = "allowlist"


def with_secret_allowlist(rules: RuleSet, secrets: SecretsConfig) -> RuleSet:
    """The estate's `secrets.allow` entries as the `allowlist` param of every rule that
    declares one (the secret rules), each entry filtered by its `rule` glob."""
    if not secrets.allow:
        return rules
    params: dict[str, dict[str, Any]] = {}
    for rule in rules.rules:
        if ALLOWLIST_PARAM in rule.param_specs:
            entries = [
                a.model_dump(mode="json", exclude={"rule"})
                for a in secrets.allow
                if fnmatch.fnmatchcase(rule.id, a.rule)
            ]
            params[rule.id] = {
                ALLOWLIST_PARAM: list(rule.params.get(ALLOWLIST_PARAM, [])) + entries
            }
    return restrict(rules, params=params)

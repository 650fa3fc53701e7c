"""Exemptions: a documented, owned and expiring "yes, we know" for a rule on some resources.

Sources: the config's `exemptions:`, the YAML files in `exemption_files:`, and resource tags
`auditor:exempt` = `<rule-id>[,<rule-id>...]` with `auditor:exempt-until` = `YYYY-MM-DD`
(optional `auditor:exempt-reason` / `auditor:exempt-owner`). An exemption applies through
its `expires` day (UTC) and stops applying by itself after it. A tag exemption without a
valid date is ignored: tags are mutable, so an exemption must expire.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from auditor.engine.errors import RuleError
from auditor.engine.yamldoc import YamlDoc, YamlError, read_yaml
from auditor.model import Clock, ExemptionRef, ResourceRef
from auditor.settings import ExemptionConfig, Settings

TAG_RULES = "auditor:exempt"
TAG_UNTIL = "auditor:exempt-until"
TAG_REASON = "auditor:exempt-reason"
TAG_OWNER = "auditor:exempt-owner"
FILE_KEYS = tuple(ExemptionConfig.model_fields)


@dataclass(frozen=True, slots=True)
class Exemption:
    rule: str  # rule id or glob ("ecs.*")
    reason: str
    owner: str
    expires: date  # last day (UTC) it applies
    source: str  # "config", "<file>:<line>" or "tag"
    resource: str = "*"  # ARN glob
    account: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    principal: str | None = None  # caller ARN glob: every principal of the finding must match

    def expired(self, now: datetime) -> bool:
        return now.date() > self.expires

    def matches(self, rule_id: str, resource: ResourceRef, principals: Sequence[str] = ()) -> bool:
        if not fnmatch.fnmatchcase(rule_id, self.rule):
            return False
        if self.principal is not None and not (
            principals and all(fnmatch.fnmatchcase(p, self.principal) for p in principals)
        ):
            return False
        if self.account is not None and self.account != resource.account:
            return False
        if self.resource != "*" and not fnmatch.fnmatchcase(resource.arn, self.resource):
            return False
        return all(resource.tags.get(k) == v for k, v in self.tags.items())

    @property
    def ref(self) -> ExemptionRef:
        return ExemptionRef(self.source, self.reason, self.owner, self.expires.isoformat())


def _from_config(entry: ExemptionConfig, source: str) -> Exemption:
    return Exemption(
        rule=entry.rule,
        reason=entry.reason,
        owner=entry.owner,
        expires=entry.expires,
        source=source,
        resource=entry.resource,
        account=entry.account,
        tags=dict(entry.tags),
        principal=entry.principal,
    )


def _from_file(doc: YamlDoc, problems: list[str]) -> list[Exemption]:
    data = doc.data
    root: tuple[Any, ...] = ()
    if isinstance(data, Mapping) and list(data) == ["exemptions"]:
        data, root = data["exemptions"], ("exemptions",)
    if data is None:
        return []
    if not isinstance(data, list):
        problems.append(f"{doc.where()}: exemptions: expected a list of exemptions")
        return []
    out: list[Exemption] = []
    for index, entry in enumerate(data):
        path = (*root, index)
        if not isinstance(entry, Mapping):
            problems.append(f"{doc.where(*path)}: exemptions[{index}]: expected a mapping")
            continue
        try:
            parsed = ExemptionConfig.model_validate(dict(entry))
        except ValidationError as exc:
            for err in exc.errors():
                key = str(err["loc"][0]) if err["loc"] else "<entry>"
                message = err["msg"]
                if err["type"] == "extra_forbidden":
                    message = f"unknown key (valid: {', '.join(FILE_KEYS)})"
                elif err["type"] == "missing":
                    message = "missing (every exemption needs rule, reason, owner and expires)"
                where = doc.where(*path, key) if key in entry else doc.where(*path)
                problems.append(f"{where}: exemptions[{index}].{key}: {message}")
            continue
        out.append(_from_config(parsed, doc.where(*path)))
    return out


def load_exemptions(settings: Settings) -> tuple[Exemption, ...]:
    """The config's exemptions plus those of every exemption file (bad file: BadInputError)."""
    found = [_from_config(e, "config") for e in settings.exemptions]
    problems: list[str] = []
    for path in settings.exemption_files:
        try:
            doc = read_yaml(Path(path))
        except YamlError as exc:
            problems.append(str(exc))
            continue
        found.extend(_from_file(doc, problems))
    if problems:
        raise RuleError(problems)
    return tuple(found)


def expired_exemptions(exemptions: Sequence[Exemption], clock: Clock) -> tuple[Exemption, ...]:
    """Exemptions past their date: they no longer apply, and the report says so."""
    now = clock.now()
    return tuple(e for e in exemptions if e.expired(now))


def tag_exemption(rule_id: str, resource: ResourceRef, now: datetime) -> Exemption | None:
    """The exemption a resource's own tags grant for `rule_id`, if valid and not expired."""
    tags = resource.tags
    listed = tags.get(TAG_RULES)
    if not listed:
        return None
    if not any(fnmatch.fnmatchcase(rule_id, p.strip()) for p in listed.split(",") if p.strip()):
        return None
    try:
        until = date.fromisoformat(tags.get(TAG_UNTIL, "").strip())
    except ValueError:
        return None
    exemption = Exemption(
        rule=rule_id,
        reason=tags.get(TAG_REASON) or f"resource tag {TAG_RULES}",
        owner=tags.get(TAG_OWNER) or "unspecified (resource tag)",
        expires=until,
        source="tag",
    )
    return None if exemption.expired(now) else exemption


class ExemptionIndex:
    """The exemptions in force at one instant, looked up for failing findings only."""

    def __init__(self, exemptions: Sequence[Exemption], now: datetime) -> None:
        self.now = now
        self.active = tuple(e for e in exemptions if not e.expired(now))

    def find(
        self, rule_id: str, resource: ResourceRef, principals: Sequence[str] = ()
    ) -> Exemption | None:
        for exemption in self.active:
            if exemption.matches(rule_id, resource, principals):
                return exemption
        if TAG_RULES in resource.tags:
            return tag_exemption(rule_id, resource, self.now)
        return None

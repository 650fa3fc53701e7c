"""Exemptions: a documented, owned and expiring "yes, we know" for a rule on some resources.

Sources: the config's `exemptions:`, the YAML files in `exemption_files:`, and resource tags
`auditor:exempt` = `<rule-id>[,<rule-id>...]` with `auditor:exempt-until` = `YYYY-MM-DD`
(optional `auditor:exempt-reason` / `auditor:exempt-owner`). An exemption applies through
its `expires` day (UTC) and stops applying by itself after it.

`exemption_policy` bounds them (checked at start, exit 2): the rule must be loaded, `*` only
when allowed, a lifetime of at most `max_days`, a scope (resource, account or tags) unless
unscoped ones are allowed. Anyone who can tag a resource can write a tag exemption, so tag
exemptions are off unless a rule is listed in `exemption_policy.tags.rules` (critical rules
need their exact id and `allow_critical`), and one dated further than `tags.max_days` ahead
is ignored. A tag exemption without a valid date is ignored: tags are mutable, so an
exemption must expire. Findings exempted by tags say so (source `tag`).
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
from auditor.engine.rules import RuleSet
from auditor.model import Clock, ExemptionRef, ResourceRef, Severity
from auditor.settings import ExemptionConfig, ExemptionPolicyConfig, Settings, TagExemptionConfig
from auditor.yamlsafe import YamlDoc, YamlError, read_yaml

TAG_RULES = "auditor:exempt"
TAG_UNTIL = "auditor:exempt-until"
TAG_REASON = "auditor:exempt-reason"
TAG_OWNER = "auditor:exempt-owner"
TAG_SOURCE = "tag"
FILE_KEYS = tuple(ExemptionConfig.model_fields)


@dataclass(frozen=True, slots=True)
class TagPolicy:
    """Which rules resource tags may exempt, and how far ahead (exemption_policy.tags)."""

    rules: tuple[str, ...] = ()
    allow_critical: bool = False
    max_days: int = 30

    @classmethod
    def from_config(cls, config: TagExemptionConfig) -> TagPolicy:
        return cls(tuple(config.rules), config.allow_critical, config.max_days)

    def allows(self, rule_id: str, severity: Severity) -> bool:
        if severity is Severity.CRITICAL:
            return self.allow_critical and rule_id in self.rules
        return any(fnmatch.fnmatchcase(rule_id, pattern) for pattern in self.rules)


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
    where: str = ""  # file:line (or environment variable) of the entry, for error messages
    entry: str = ""  # its field path, e.g. "exemptions[2]"

    @property
    def scoped(self) -> bool:
        return self.resource != "*" or self.account is not None or bool(self.tags)

    def expired(self, now: datetime) -> bool:
        return now.date() > self.expires

    def matches(self, rule_id: str, resource: ResourceRef) -> bool:
        if not fnmatch.fnmatchcase(rule_id, self.rule):
            return False
        if self.account is not None and self.account != resource.account:
            return False
        if self.resource != "*" and not fnmatch.fnmatchcase(resource.arn, self.resource):
            return False
        return all(resource.tags.get(k) == v for k, v in self.tags.items())

    @property
    def ref(self) -> ExemptionRef:
        return ExemptionRef(self.source, self.reason, self.owner, self.expires.isoformat())


def _from_config(
    entry: ExemptionConfig, source: str, where: str = "", label: str = ""
) -> Exemption:
    return Exemption(
        where=where or source,
        entry=label,
        rule=entry.rule,
        reason=entry.reason,
        owner=entry.owner,
        expires=entry.expires,
        source=source,
        resource=entry.resource,
        account=entry.account,
        tags=dict(entry.tags),
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
        out.append(_from_config(parsed, doc.where(*path), label=f"exemptions[{index}]"))
    return out


def load_exemptions(settings: Settings) -> tuple[Exemption, ...]:
    """The config's exemptions plus those of every exemption file (bad file: BadInputError)."""
    found = [
        _from_config(e, "config", settings.where("exemptions", i), f"exemptions[{i}]")
        for i, e in enumerate(settings.exemptions)
    ]
    problems: list[str] = []
    for path in settings.exemption_files:
        try:
            doc = read_yaml(Path(path), "exemption file")
        except YamlError as exc:
            problems.append(str(exc))
            continue
        found.extend(_from_file(doc, problems))
    if problems:
        raise RuleError(problems, "exemptions")
    return tuple(found)


def check_exemptions(
    exemptions: Sequence[Exemption], rules: RuleSet, policy: ExemptionPolicyConfig, today: date
) -> None:
    """Every exemption within `exemption_policy`; else RuleError naming each entry (exit 2)."""
    problems: list[str] = []
    ids = rules.ids
    for e in exemptions:
        at = f"{e.where}: {e.entry}." if e.entry else f"{e.where}: "
        matched = [i for i in ids if fnmatch.fnmatchcase(i, e.rule)]
        every = e.rule.strip("*?.") == "" or (len(ids) > 1 and len(matched) == len(ids))
        if not matched:
            problems.append(f"{at}rule: {e.rule!r} matches no loaded rule")
        elif every and not policy.allow_all_rules:
            problems.append(
                f"{at}rule: {e.rule!r} exempts every rule "
                "(name the rules, or set exemption_policy.allow_all_rules: true)"
            )
        if (e.expires - today).days > policy.max_days:
            problems.append(
                f"{at}expires: {e.expires.isoformat()} is more than "
                f"{policy.max_days} days away (exemption_policy.max_days)"
            )
        if not e.scoped and not policy.allow_unscoped:
            problems.append(
                f"{at}resource: an exemption needs a scope (resource ARN glob, account "
                "or tags); to exempt every resource disable the rule, or set "
                "exemption_policy.allow_unscoped: true"
            )
    if problems:
        raise RuleError(problems, "exemptions")


def expired_exemptions(exemptions: Sequence[Exemption], clock: Clock) -> tuple[Exemption, ...]:
    """Exemptions past their date: they no longer apply, and the report says so."""
    now = clock.now()
    return tuple(e for e in exemptions if e.expired(now))


def tag_exemption(
    rule_id: str, resource: ResourceRef, now: datetime, max_days: int = 30
) -> Exemption | None:
    """The exemption a resource's own tags grant for `rule_id`, if valid, not expired and not
    dated more than `max_days` ahead (the caller checks the rule may be tag-exempted)."""
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
        source=TAG_SOURCE,
    )
    if exemption.expired(now) or (until - now.date()).days > max_days:
        return None
    return exemption


class ExemptionIndex:
    """The exemptions in force at one instant, looked up for failing findings only."""

    def __init__(
        self, exemptions: Sequence[Exemption], now: datetime, tags: TagPolicy | None = None
    ) -> None:
        self.now = now
        self.active = tuple(e for e in exemptions if not e.expired(now))
        self.tags = tags or TagPolicy()

    def find(
        self, rule_id: str, resource: ResourceRef, severity: Severity = Severity.CRITICAL
    ) -> Exemption | None:
        for exemption in self.active:
            if exemption.matches(rule_id, resource):
                return exemption
        if TAG_RULES in resource.tags and self.tags.allows(rule_id, severity):
            return tag_exemption(rule_id, resource, self.now, self.tags.max_days)
        return None


def from_requests(rows: Sequence[Mapping[str, Any]]) -> tuple[Exemption, ...]:
    """Exemptions requested and approved (by a second person) in the web app."""
    return tuple(
        Exemption(
            rule=str(r["rule"]),
            reason=str(r["reason"]),
            owner=str(r["owner"]),
            expires=r["expires"],
            source=f"web:{r['id']} (requested by {r['requested_by']}, "
            f"approved by {r['decided_by']})",
            resource=str(r["resource"]),
            account=r["account"] or None,
        )
        for r in rows
    )

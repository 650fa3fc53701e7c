"""Rule packs (YAML) -> a validated RuleSet, reporting every problem with file and line."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.checks import CHECKS
from auditor.engine.conditions import Condition, ConditionCompiler
from auditor.engine.errors import RuleError
from auditor.engine.params import check_value, parse_specs
from auditor.engine.rules import ParamSpec, Rule, RuleSet
from auditor.model import Kind, RuleInfo, Severity
from auditor.settings import RulesConfig
from auditor.yamlsafe import YamlDoc, YamlError, read_yaml

RULE_ID = re.compile(r"^[a-z0-9]+(\.[a-z0-9_]+)+$")
PACK_KEYS = ("rules", "description")
RULE_KEYS = (
    "id",
    "title",
    "severity",
    "resource",
    "description",
    "rationale",
    "params",
    "frameworks",
    "remediation",
    "fails_when",
    "check",
    "message",
)
REQUIRED_TEXT = ("title", "description", "rationale")
REMEDIATION_KEYS = ("text", "action", "source_caused")
ACTIONS = ("replace",)
FRAMEWORKS = (
    "NIST 800-53",
    "CIS AWS Foundations",
    "CIS AWS Compute Services",
    "PCI DSS v4",
    "SOC 2",
    "AWS Security Hub",
    "Well-Architected",
    "ISO 27001",
)
SEVERITIES = tuple(s.value for s in Severity)
KINDS = tuple(k.value for k in Kind)


def builtin_rules_dir() -> Path:
    """The built-in packs: inside the wheel (auditor/_data/rules) or the source checkout."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "_data" / "rules"
    return packaged if packaged.is_dir() else package.parent / "rules"


def pack_files(path: Path) -> list[Path]:
    """The rule pack files a path names: the YAML files of a directory, or the file itself."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path]


@dataclass
class _Problems:
    lines: list[str] = field(default_factory=list)

    def add(self, where: str, rule_id: str | None, field_name: str, message: str) -> None:
        label = f"rule {rule_id}: " if rule_id else ""
        self.lines.append(f"{where}: {label}{field_name}: {message}")


@dataclass
class _Draft:
    """A rule entry that passed the structural checks, before params and compilation."""

    doc: YamlDoc
    path: tuple[Any, ...]
    raw: Mapping[str, Any]
    id: str
    specs: dict[str, ParamSpec]
    params: dict[str, Any] = field(default_factory=dict)


def _text(raw: Mapping[str, Any], key: str) -> str:
    return " ".join(str(raw.get(key) or "").split())


def _frameworks(raw: Any, problem: Any) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problem((), "frameworks", "expected a mapping of framework name to control ids")
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for name, controls in raw.items():
        if name not in FRAMEWORKS:
            problem(
                (name,), f"frameworks.{name}", f"unknown framework (valid: {', '.join(FRAMEWORKS)})"
            )
            continue
        if not isinstance(controls, list) or not all(isinstance(c, str) and c for c in controls):
            problem((name,), f"frameworks.{name}", "expected a list of control ids (strings)")
            continue
        out[str(name)] = tuple(controls)
    return out


def _remediation(raw: Any, problem: Any) -> tuple[str, str | None, bool]:
    if isinstance(raw, str) and raw.strip():
        return " ".join(raw.split()), None, False
    if not isinstance(raw, Mapping):
        problem((), "remediation", "missing: a text, or {text, action, source_caused}")
        return "", None, False
    for key in raw:
        if key not in REMEDIATION_KEYS:
            problem(
                (key,), f"remediation.{key}", f"unknown key (valid: {', '.join(REMEDIATION_KEYS)})"
            )
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        problem((), "remediation.text", "missing: say how to fix it")
    action = raw.get("action")
    if action is not None and action not in ACTIONS:
        problem(
            ("action",),
            "remediation.action",
            f"unknown action {action!r} (valid: {', '.join(ACTIONS)})",
        )
        action = None
    caused = raw.get("source_caused", False)
    if not isinstance(caused, bool):
        problem(("source_caused",), "remediation.source_caused", "expected true or false")
        caused = False
    return " ".join(str(text or "").split()), action, caused


class _Loader:
    def __init__(self) -> None:
        self.problems = _Problems()
        self.drafts: list[_Draft] = []
        self.seen: dict[str, str] = {}

    def pack(self, path: Path) -> None:
        try:
            doc = read_yaml(path, "rule pack")
        except YamlError as exc:
            self.problems.lines.append(str(exc))
            return
        data = doc.data
        if not isinstance(data, Mapping) or not isinstance(data.get("rules"), list):
            self.problems.add(
                doc.where(), None, "rules", "a rule pack is a mapping with a `rules:` list"
            )
            return
        for key in data:
            if key not in PACK_KEYS:
                self.problems.add(
                    doc.where(key), None, str(key), f"unknown key (valid: {', '.join(PACK_KEYS)})"
                )
        for index, entry in enumerate(data["rules"]):
            self.entry(doc, ("rules", index), entry)

    def entry(self, doc: YamlDoc, path: tuple[Any, ...], raw: Any) -> None:
        if not isinstance(raw, Mapping):
            self.problems.add(doc.where(*path), None, _field(path), "a rule is a mapping")
            return
        rule_id = raw.get("id")
        label = rule_id if isinstance(rule_id, str) else f"#{path[-1] + 1}"
        before = len(self.problems.lines)

        def problem(sub: tuple[Any, ...], field_name: str, message: str) -> None:
            self.problems.add(doc.where(*path, *sub), label, field_name, message)

        for key in raw:
            if key not in RULE_KEYS:
                problem((key,), str(key), f"unknown key (valid: {', '.join(RULE_KEYS)})")
        if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
            problem(
                ("id",),
                "id",
                f"{rule_id!r} is not a valid id (dotted lower case, e.g. ec2.max_age)",
            )
        elif rule_id in self.seen:
            problem(("id",), "id", f"duplicate id, first defined at {self.seen[rule_id]}")
        else:
            self.seen[rule_id] = doc.where(*path)
        if raw.get("severity") not in SEVERITIES:
            problem(
                ("severity",),
                "severity",
                f"unknown severity {raw.get('severity')!r} (valid: {', '.join(SEVERITIES)})",
            )
        _kinds(raw.get("resource"), problem)
        for key in REQUIRED_TEXT:
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                problem((key,), key, "missing or empty")
        if raw.get("message") is not None and not isinstance(raw.get("message"), str):
            problem(("message",), "message", "expected a string")
        _frameworks(raw.get("frameworks"), lambda s, f, m: problem(("frameworks", *s), f, m))
        _remediation(raw.get("remediation"), lambda s, f, m: problem(("remediation", *s), f, m))
        has_check, has_condition = "check" in raw, "fails_when" in raw
        if has_check == has_condition:
            problem(
                (), "fails_when", "a rule needs exactly one of fails_when (declarative) or check"
            )
        elif has_check and (not isinstance(raw["check"], str) or raw["check"] not in CHECKS):
            problem(
                ("check",),
                "check",
                f"unknown check {raw['check']!r} (valid: {', '.join(sorted(CHECKS))})",
            )
        specs = parse_specs(
            raw.get("params"),
            (*path, "params"),
            lambda p, f, m: self.problems.add(doc.where(*p), label, f, m),
        )
        if "fails_when" in raw:  # validated now with the defaults, compiled again in build()
            defaults = {n: s.default for n, s in specs.items()}
            ConditionCompiler(defaults, problem).compile(raw["fails_when"], ("fails_when",))
        if len(self.problems.lines) == before and isinstance(rule_id, str):
            self.drafts.append(
                _Draft(doc, path, raw, rule_id, specs, {n: s.default for n, s in specs.items()})
            )

    def configure(self, config: RulesConfig) -> None:
        by_id = {d.id: d for d in self.drafts}
        where = "config"
        for pattern in config.disabled:
            matched = [i for i in by_id if fnmatch.fnmatchcase(i, pattern)]
            if not matched:
                self.problems.add(
                    where, None, f"rules.disabled: {pattern}", "matches no loaded rule"
                )
            for rule_id in matched:
                self.drafts.remove(by_id.pop(rule_id))
        left_out: set[str] = set()
        if config.only:  # `auditor scan --rule`: this run judges only these rules
            for pattern in config.only:
                if not any(fnmatch.fnmatchcase(i, pattern) for i in by_id):
                    field = f"rules.only: {pattern}"
                    self.problems.add(where, None, field, "matches no loaded rule")
            for rule_id in list(by_id):
                if not any(fnmatch.fnmatchcase(rule_id, p) for p in config.only):
                    self.drafts.remove(by_id.pop(rule_id))
                    left_out.add(rule_id)
        for rule_id, overrides in config.params.items():
            draft = by_id.get(rule_id)
            if draft is None and rule_id in left_out:
                continue  # configured, but not part of this run
            if draft is None:
                self.problems.add(
                    where,
                    None,
                    f"rules.params.{rule_id}",
                    "no such rule loaded (or it is disabled)",
                )
                continue
            for name, value in overrides.items():
                spec = draft.specs.get(name)
                field_name = f"rules.params.{rule_id}.{name}"
                if spec is None:
                    valid = ", ".join(sorted(draft.specs)) or "this rule takes no params"
                    self.problems.add(where, rule_id, field_name, f"unknown param (valid: {valid})")
                    continue
                why = check_value(spec, value)
                if why is not None:
                    self.problems.add(where, rule_id, field_name, why)
                    continue
                draft.params[name] = value

    def build(self, draft: _Draft) -> Rule | None:
        raw, doc = draft.raw, draft.doc
        before = len(self.problems.lines)

        def problem(sub: tuple[Any, ...], field_name: str, message: str) -> None:
            self.problems.add(doc.where(*draft.path, *sub), draft.id, field_name, message)

        text, action, caused = _remediation(raw["remediation"], problem)
        compiled: Condition | None = None
        kinds = _kinds(raw["resource"], problem)
        spec = CHECKS[raw["check"]] if "check" in raw else None
        if spec is not None and spec.validate_params is not None:
            for why in spec.validate_params(draft.params):
                problem(("params",), "params", why)
        if "fails_when" in raw:
            compiler = ConditionCompiler(
                draft.params,
                lambda sub, f, m: self.problems.add(doc.where(*draft.path, *sub), draft.id, f, m),
            )
            compiled = compiler.compile(raw["fails_when"], ("fails_when",))
        if len(self.problems.lines) != before:
            return None
        info = RuleInfo(
            id=draft.id,
            title=_text(raw, "title"),
            severity=Severity(raw["severity"]),
            kind=kinds[0],
            description=_text(raw, "description"),
            rationale=_text(raw, "rationale"),
            remediation=text,
            frameworks=_frameworks(raw.get("frameworks"), problem),
            action=action,
            source_caused=caused,
            kinds=kinds if len(kinds) > 1 else (),
        )
        return Rule(
            info=info,
            params=dict(draft.params),
            param_specs=draft.specs,
            source=doc.where(*draft.path),
            check=raw.get("check"),
            spec=spec,
            condition=raw.get("fails_when"),
            compiled=compiled,
            message=_text(raw, "message") or None,
            reads=compiled.reads if compiled is not None else frozenset(),
        )


def _kinds(raw: Any, problem: Any) -> tuple[Kind, ...]:
    """`resource:` is one kind, or a list of kinds for a rule that spans several."""
    if isinstance(raw, str) and raw in KINDS:
        return (Kind(raw),)
    if isinstance(raw, list) and raw and all(isinstance(k, str) for k in raw):
        bad = [k for k in raw if k not in KINDS]
        if bad:
            problem(
                ("resource",),
                "resource",
                f"unknown kind {bad[0]!r} (valid: {', '.join(KINDS)})",
            )
            return ()
        if len(set(raw)) != len(raw):
            problem(("resource",), "resource", "a kind is listed twice")
            return ()
        return tuple(Kind(k) for k in raw)
    problem(
        ("resource",),
        "resource",
        f"unknown kind {raw!r} (valid: one of {', '.join(KINDS)}, or a list of them)",
    )
    return ()


def _field(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path) or "<document>"


def load_rules(settings_rules: RulesConfig, *, extra_paths: Sequence[Path] = ()) -> RuleSet:
    """Built-in packs (unless `builtin: false`) plus the user's, with the config applied.

    Raises RuleError listing every problem (file:line, rule id, field, valid choices).
    """
    loader = _Loader()
    files: list[Path] = []
    sources: list[Path] = [builtin_rules_dir()] if settings_rules.builtin else []
    sources += [Path(p) for p in settings_rules.paths] + list(extra_paths)
    for source in sources:
        if not source.exists():
            loader.problems.lines.append(f"{source}: no such file or directory")
            continue
        files.extend(pack_files(source))
    seen: set[Path] = set()
    for file in files:
        resolved = file.resolve()
        if resolved not in seen:
            seen.add(resolved)
            loader.pack(file)
    loader.configure(settings_rules)
    rules = [rule for rule in (loader.build(d) for d in loader.drafts) if rule is not None]
    if loader.problems.lines:
        raise RuleError(loader.problems.lines)
    return RuleSet(tuple(rules))

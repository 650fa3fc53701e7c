"""`auditor rules list|validate|explain`: what the policies are, and whether a pack is valid."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.engine import Rule, RuleSet
    from auditor.settings import RulesConfig

DESCRIPTION = """\
Inspect and check rule packs (the built-in packs plus `rules.paths` from the config).

examples:
  auditor rules list
  auditor rules validate ./policies/
  auditor rules explain ec2.imdsv2_required
"""
LIST_DESCRIPTION = """\
List the loaded rules: id, severity, resource kind and framework controls. A rich table on
a terminal, plain tab-separated text otherwise (for grep and scripts).

example:
  auditor rules list --config auditor.yaml | grep critical
"""
VALIDATE_DESCRIPTION = """\
Validate rule packs (files or directories of *.yaml) together with the built-in packs, so
duplicate ids are caught too. Every problem is printed on stderr as
`file:line: rule <id>: <field>: <problem> (valid: ...)`.

exit codes: 0 valid; 2 at least one problem

example:
  auditor rules validate ./policies/ extra.yaml
"""
EXPLAIN_DESCRIPTION = """\
Show everything about one rule: metadata, params (with config overrides applied),
framework controls, remediation, and the condition or Python check it runs.

example:
  auditor rules explain ec2.ami_age --config auditor.yaml
"""

FRAMEWORK_SHORT = {
    "NIST 800-53": "NIST",
    "CIS AWS Foundations": "CIS",
    "CIS AWS Compute Services": "CIS-Compute",
    "PCI DSS v4": "PCI",
    "SOC 2": "SOC2",
    "AWS Security Hub": "SecHub",
    "Well-Architected": "WA",
    "ISO 27001": "ISO",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "rules",
        help="list, validate and explain rules",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="rules_command", metavar="SUBCOMMAND", required=True)

    list_parser = commands.add_parser(
        "list",
        help="list the loaded rules",
        description=LIST_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_option(list_parser)
    list_parser.set_defaults(handler=handle_list)

    validate = commands.add_parser(
        "validate",
        help="validate rule pack files or directories",
        description=VALIDATE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    _config_option(validate)
    validate.set_defaults(handler=handle_validate)

    explain = commands.add_parser(
        "explain",
        help="show everything about one rule",
        description=EXPLAIN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explain.add_argument("rule_id", metavar="RULE_ID")
    _config_option(explain)
    explain.set_defaults(handler=handle_explain)


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=None, help="config file (default ./auditor.yaml if present)"
    )


def _rules_config(args: argparse.Namespace) -> RulesConfig:
    from auditor.errors import BadInputError
    from auditor.settings import ConfigError, RulesConfig, load_settings

    if args.config is None and not Path("auditor.yaml").exists():
        return RulesConfig()
    try:
        return load_settings(args.config).rules
    except ConfigError as exc:
        raise BadInputError(str(exc)) from None


def _load(args: argparse.Namespace, extra: tuple[Path, ...] = ()) -> RuleSet:
    from auditor.engine import load_rules

    return load_rules(_rules_config(args), extra_paths=extra)


def frameworks_text(rule: Rule) -> str:
    return "; ".join(
        f"{FRAMEWORK_SHORT.get(name, name)} {','.join(controls)}"
        for name, controls in rule.info.frameworks.items()
    )


def handle_list(args: argparse.Namespace) -> int:
    rules = _load(args)
    rows = [
        (
            r.id,
            r.info.severity.value,
            ", ".join(k.value for k in r.info.applies_to),
            frameworks_text(r),
        )
        for r in rules.rules
    ]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{len(rows)} rules (version {rules.version})")
        for column in ("id", "severity", "kind", "frameworks"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    else:
        print("id\tseverity\tkind\tframeworks")
        for row in rows:
            print("\t".join(row))
    return 0


def handle_validate(args: argparse.Namespace) -> int:
    from auditor.engine import RuleError

    try:
        rules = _load(args, tuple(args.paths))
    except RuleError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"{count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        return 2
    print(f"ok: {len(rules)} rules valid (version {rules.version})")
    return 0


def handle_explain(args: argparse.Namespace) -> int:
    import json

    from auditor.errors import BadInputError

    rules = _load(args)
    rule = rules.get(args.rule_id)
    if rule is None:
        import difflib

        close = difflib.get_close_matches(args.rule_id, rules.ids, n=3)
        hint = f" (did you mean: {', '.join(close)}?)" if close else ""
        raise BadInputError(f"no rule {args.rule_id!r}{hint}; `auditor rules list` shows them all")
    lines = [
        f"{rule.id}: {rule.info.title}",
        f"  severity:     {rule.info.severity.value}",
        f"  resource:     {', '.join(k.value for k in rule.info.applies_to)}",
        f"  defined at:   {rule.source}",
        "",
        f"description:  {rule.info.description}",
        f"rationale:    {rule.info.rationale}",
        f"remediation:  {rule.info.remediation}",
        f"  automatic action: {rule.info.action or 'none'}"
        + ("  (source-caused: replacing would recreate it)" if rule.info.source_caused else ""),
        "",
        "params:" if rule.param_specs else "params: none",
    ]
    for name, spec in rule.param_specs.items():
        value = rule.params[name]
        changed = "" if value == spec.default else f" (default {spec.default!r})"
        lines.append(f"  {name} = {value!r}{changed}  [{spec.type}] {spec.description}")
    lines.append("frameworks:")
    for name, controls in rule.info.frameworks.items():
        lines.append(f"  {name}: {', '.join(controls)}")
    lines.append("")
    if rule.check is not None:
        lines.append(f"check: {rule.check} (Python, auditor/checks/)")
        lines.extend(_secret_detectors(rule))
    else:
        lines.append("fails when:")
        lines.append("  " + json.dumps(rule.condition, indent=2).replace("\n", "\n  "))
    print("\n".join(lines))
    return 0


def _secret_detectors(rule: Rule) -> list[str]:
    """For the secret rules: each detector that can fire (the evidence's `detector`) and why,
    and what is never a secret."""
    from auditor.secrets import LIBRARY_REASON, NOT_SECRETS, REASONS

    if rule.spec is None or not rule.spec.finds_secrets:
        return []
    out = ["", "detectors (evidence: location, detector, 12-hex hash; never the value):"]
    out.extend(f"  {name}: {reason}" for name, reason in REASONS.items())
    out.append(f"  <token type, e.g. AWS Access Key>: {LIBRARY_REASON}")
    out.append("never a secret, whatever the variable is called:")
    out.extend(f"  {text}" for text in NOT_SECRETS)
    out.append("known non-secrets: config secrets.allow (hash or name glob, owner, reason, expiry)")
    return out

"""ReportInput -> the `auditor.report/v1` document (report.json).

Pure: no I/O, no clock. Every other format (HTML, CSV, OCSF) is rendered from this
document, so they cannot disagree with the signed JSON.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime

from auditor.model import (
    JSON,
    ActionRecord,
    Finding,
    RuleInfo,
    Severity,
    Status,
    TrackedFinding,
    iso,
)
from auditor.report.input import ExemptionInfo, ReportInput
from auditor.report.redact import scrub
from auditor.report.scoring import (
    SCORE_METHOD,
    Tally,
    account_scores,
    framework_scores,
    rule_tallies,
)

SCHEMA = "auditor.report/v1"
SEVERITIES = tuple(s.value for s in sorted(Severity, key=lambda s: -s.rank))
STATUSES = tuple(s.value for s in Status)


def report_document(data: ReportInput, report_id: str) -> dict[str, JSON]:
    """The `auditor.report/v1` document (report.json) of a ReportInput."""
    findings = data.evaluation.findings
    tallies = rule_tallies(data.evaluation.stats, findings)
    overall = sum(tallies.values(), Tally())
    tracked = {t.id: t for t in (*data.delta.new, *data.delta.still_open)}
    new_ids = {t.id for t in data.delta.new}
    actions = _actions_by_finding(data.actions)
    generated = iso(data.generated_at)
    current_point = {"generated_at": generated, "score": overall.score, "failed": overall.failed}
    return {
        "schema": SCHEMA,
        "report_id": report_id,
        "generated_at": generated,
        "since": iso(data.since) if data.since else None,
        "tool": {"name": "auditor", "version": data.tool_version},
        "rules_version": data.rules_version,
        "snapshot": {
            "id": data.snapshot.id,
            "started_at": iso(data.snapshot.started_at),
            "finished_at": iso(data.snapshot.finished_at),
            "evaluated_at": iso(data.evaluation.evaluated_at),
            "api_calls": dict(sorted(data.snapshot.api_calls.items())),
            "api_calls_total": sum(data.snapshot.api_calls.values()),
        },
        "scope": data.snapshot.scope.to_json(),
        "coverage": _coverage(data),
        "summary": _summary(findings, overall),
        "scores": {
            "method": SCORE_METHOD,
            "overall": overall.score,
            "frameworks": framework_scores(data.rules, tallies),
            "accounts": account_scores(
                data.snapshot.scope.accounts, data.evaluated_by_account, findings
            ),
        },
        "trend": [
            {"generated_at": iso(p.generated_at), "score": p.score, "failed": p.failed}
            for p in sorted(data.trend, key=lambda p: p.generated_at)
        ]
        + [current_point],
        "rules": _rules(data.rules, tallies),
        "findings": [
            _finding(f, fid, tracked.get(fid), fid in new_ids, actions.get(fid), data.generated_at)
            for f, fid in ((f, f.id) for f in sorted(findings, key=_finding_order))
        ],
        "delta": {
            "new": sorted(new_ids),
            "still_open": len(data.delta.still_open),
            "resolved": [_resolved(t) for t in sorted(data.delta.resolved, key=lambda t: t.id)],
        },
        "exemptions": {
            "in_force": [_exemption(e) for e in data.exemptions if not e.expired],
            "expired": [_exemption(e) for e in data.exemptions if e.expired],
            # findings a resource exempted with its own tags (anyone who can tag can do it)
            "tag_sourced": sum(
                1 for f in findings if f.exemption is not None and f.exemption.source == "tag"
            ),
        },
        "actions": [a.to_json() for a in sorted(data.actions, key=lambda a: (a.at, a.id))],
        "audit_log": [dict(e) for e in data.audit_log],
    }


def _coverage(data: ReportInput) -> dict[str, JSON]:
    gaps = data.snapshot.gaps
    if not gaps:
        statement = "Complete: every account, region and service in scope was read."
    else:
        statement = (
            f"INCOMPLETE: {len(gaps)} collection gap(s). Resources behind a gap could not be "
            "checked; their rules are reported as unknown and are NOT counted as passing."
        )
    out: dict[str, JSON] = {
        "complete": not gaps,
        "statement": statement,
        "gaps": [
            {**g.to_json(), "error": f"{g.error_code}: {g.message}"}
            for g in sorted(gaps, key=lambda g: (g.account, g.region, g.service.value, g.operation))
        ],
    }
    if data.events is not None:
        out["events"] = dict(data.events)
        if not data.events.get("healthy", True):
            out["statement"] = f"{statement} {data.events.get('statement', '')}".strip()
    return out


def _summary(findings: tuple[Finding, ...], overall: Tally) -> dict[str, JSON]:
    by_severity = Counter(f.severity.value for f in findings)
    by_status = Counter(f.status.value for f in findings)
    by_rule: dict[str, Counter[str]] = {}
    for f in findings:
        by_rule.setdefault(f.rule_id, Counter())[f.status.value] += 1
    return {
        "findings": len(findings),
        "by_severity": {s: by_severity.get(s, 0) for s in SEVERITIES},
        "by_status": {s: by_status.get(s, 0) for s in STATUSES},
        "by_rule": {
            rule: {s: c.get(s, 0) for s in STATUSES} for rule, c in sorted(by_rule.items())
        },
        **overall.to_json(),
    }


def _rules(rules: Mapping[str, RuleInfo], tallies: Mapping[str, Tally]) -> list[dict[str, JSON]]:
    out: list[dict[str, JSON]] = []
    for rule_id in sorted(set(rules) | set(tallies)):
        t = tallies.get(rule_id, Tally())
        rule = rules.get(rule_id)
        if rule is None:  # stats for a rule whose metadata is gone: still shown, never dropped
            meta: dict[str, JSON] = {
                "id": rule_id,
                "title": rule_id,
                "severity": Severity.INFO.value,
                "kind": "",
                "description": "",
                "rationale": "",
                "remediation": "",
                "frameworks": {},
                "action": None,
            }
        else:
            meta = {
                "id": rule.id,
                "title": rule.title,
                "severity": rule.severity.value,
                "kind": rule.kind.value,
                "description": rule.description,
                "rationale": rule.rationale,
                "remediation": rule.remediation,
                "frameworks": {k: list(v) for k, v in sorted(rule.frameworks.items())},
                "action": rule.action,
            }
        out.append({**meta, **t.to_json()})
    return out


def _finding_order(f: Finding) -> tuple[int, str, str, str]:
    return (-f.severity.rank, f.rule_id, f.status.value, f.resource.arn)


def _finding(
    f: Finding,
    fid: str,
    tracked: TrackedFinding | None,
    new: bool,
    action: ActionRecord | None,
    now: datetime,
) -> dict[str, JSON]:
    first = tracked.first_seen if tracked else now
    last = tracked.last_seen if tracked else now
    return {
        "id": fid,
        "rule_id": f.rule_id,
        "severity": f.severity.value,
        "status": f.status.value,
        "message": f.message,
        "resource": f.resource.to_json(),
        "evidence": scrub(dict(f.evidence)),
        "exemption": f.exemption.to_json() if f.exemption else None,
        "first_seen": iso(first),
        "last_seen": iso(last),
        "consecutive_cycles": tracked.consecutive_cycles if tracked else 1,
        "new": new,
        "remediation": action.to_json() if action else None,
    }


def _resolved(t: TrackedFinding) -> dict[str, JSON]:
    return {
        "id": t.id,
        "rule_id": t.finding.rule_id,
        "severity": t.finding.severity.value,
        "resource_arn": t.finding.resource.arn,
        "first_seen": iso(t.first_seen),
        "last_seen": iso(t.last_seen),
        "resolved_at": iso(t.resolved_at) if t.resolved_at else None,
    }


def _exemption(e: ExemptionInfo) -> dict[str, JSON]:
    return {
        "rule": e.rule,
        "resource": e.resource,
        "account": e.account,
        "tags": dict(e.tags),
        "reason": e.reason,
        "owner": e.owner,
        "expires": e.expires.isoformat(),
        "expired": e.expired,
        "source": e.source,
    }


def _actions_by_finding(actions: tuple[ActionRecord, ...]) -> dict[str, ActionRecord]:
    """The latest action per finding: what was done (or planned) about it."""
    out: dict[str, ActionRecord] = {}
    for a in sorted(actions, key=lambda a: (a.at, a.id)):
        for fid in a.finding_ids:
            out[fid] = a
    return out

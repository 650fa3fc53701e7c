"""findings.ocsf.json: the findings as OCSF Compliance Finding events (class_uid 2003).

One JSON array of events, ready for a SIEM or Security Hub's OCSF ingestion. Fail results
map to compliance status Fail, unknown to Unknown (never Pass), exempt to Fail with the
finding status Suppressed and the exemption in `status_detail`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from auditor.model import JSON, parse_iso

OCSF_VERSION = "1.1.0"
CLASS_UID = 2003
CATEGORY_UID = 2
ACTIVITY_CREATE = 1
SEVERITY_ID = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
# compliance.status_id: 0 Unknown, 1 Pass, 2 Warning, 3 Fail
COMPLIANCE = {"fail": ("Fail", 3), "unknown": ("Unknown", 0), "exempt": ("Fail", 3)}
# finding status_id: 1 New, 2 In Progress, 3 Suppressed, 4 Resolved
FINDING_STATUS = {"fail": ("New", 1), "unknown": ("New", 1), "exempt": ("Suppressed", 3)}


def ocsf_chunks(report: Mapping[str, JSON]) -> Iterator[str]:
    """The JSON array, one event per line, generated lazily (50,000 events never sit in memory)."""
    rules = {r["id"]: r for r in report["rules"]}
    product = {
        "name": "auditor",
        "vendor_name": "auditor",
        "version": report["tool"]["version"],
    }
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    yield "["
    for i, f in enumerate(report["findings"]):
        yield ("\n" if i == 0 else ",\n") + encode(
            _event(f, rules.get(f["rule_id"], {}), report, product)
        )
    yield "\n]\n"


@lru_cache(maxsize=4096)
def _ms(text: str) -> int:
    return int(parse_iso(text).timestamp() * 1000)


def _event(
    f: Mapping[str, Any], rule: Mapping[str, Any], report: Mapping[str, Any], product: JSON
) -> dict[str, JSON]:
    res = f["resource"]
    status, status_id = COMPLIANCE[f["status"]]
    finding_status, finding_status_id = FINDING_STATUS[f["status"]]
    frameworks: Mapping[str, list[str]] = rule.get("frameworks", {})
    detail = None
    if f["exemption"]:
        e = f["exemption"]
        detail = f"exempt until {e['expires']} by {e['owner']}: {e['reason']}"
    elif f["status"] == "unknown":
        detail = "could not be checked (collection gap or unreadable attribute)"
    return {
        "class_uid": CLASS_UID,
        "class_name": "Compliance Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "severity_id": SEVERITY_ID[f["severity"]],
        "severity": f["severity"].capitalize(),
        "status": finding_status,
        "status_id": finding_status_id,
        "time": _ms(report["generated_at"]),
        "message": f["message"],
        "metadata": {
            "version": OCSF_VERSION,
            "product": product,
            "uid": f["id"],
            "correlation_uid": report["report_id"],
        },
        "finding_info": {
            "uid": f["id"],
            "title": rule.get("title", f["rule_id"]),
            "desc": rule.get("description", ""),
            "first_seen_time": _ms(f["first_seen"]),
            "last_seen_time": _ms(f["last_seen"]),
            "types": [f["rule_id"]],
        },
        "compliance": {
            "control": f["rule_id"],
            "standards": sorted(frameworks),
            "requirements": sorted(f"{k} {c}" for k, ids in frameworks.items() for c in ids),
            "status": status,
            "status_id": status_id,
            "status_detail": detail,
        },
        "cloud": {
            "provider": "AWS",
            "account": {"uid": res["account"], "type": "AWS Account", "type_id": 10},
            "region": res["region"],
        },
        "resources": [
            {
                "uid": res["arn"],
                "name": res["id"],
                "type": res["kind"],
                "region": res["region"],
                "labels": [f"{k}={v}" for k, v in sorted(res["tags"].items())],
                "data": {"evidence": f["evidence"]},
            }
        ],
        "remediation": {"desc": rule.get("remediation", "")},
        "unmapped": {"auditor_status": f["status"], "action": f["remediation"]},
    }

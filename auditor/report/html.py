"""report.html: one self-contained page (inline CSS and JS, no external assets).

Rendered from the report.json document with Jinja2 (autoescape, StrictUndefined), so the
page cannot show a number the signed JSON does not hold. Built for 50,000 findings: rows
are compact, groups are collapsed <details> (closed content costs no layout), and one
small inline script filters rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import jinja2

from auditor.model import JSON
from auditor.report.assets import reports_dir
from auditor.report.document import SEVERITIES

EVIDENCE_CHARS = 240
OPEN_GROUP_LIMIT = 200  # groups with more rows start collapsed
CHUNK_ROWS = 500  # rows per collapsible block: opening a group never lays out 25,000 rows
HEADLINE_FRAMEWORKS = ("NIST 800-53", "CIS", "PCI DSS v4", "SOC 2")


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(reports_dir())),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = _pct
    return env


def _pct(score: float | None) -> str:
    return "n/a" if score is None else f"{score * 100:.1f}%"


def html_chunks(report: Mapping[str, Any], signing: Mapping[str, str]) -> Iterator[str]:
    """report.html: the self-contained page, rendered in chunks."""
    template = _environment().get_template("report.html.j2")
    return template.generate(
        r=report,
        signing=signing,
        groups=_groups(report),
        severities=SEVERITIES,
        trend_svg=trend_svg(report["trend"]),
        headline=HEADLINE_FRAMEWORKS,
        open_limit=OPEN_GROUP_LIMIT,
        chunk_rows=CHUNK_ROWS,
    )


def _groups(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Findings grouped by severity, then rule (report.json is already sorted that way)."""
    titles = {r["id"]: r["title"] for r in report["rules"]}
    groups: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for f in report["findings"]:
        key = (f["severity"], f["rule_id"])
        if current is None or current["key"] != key:
            current = {
                "key": key,
                "severity": f["severity"],
                "rule_id": f["rule_id"],
                "title": titles.get(f["rule_id"], f["rule_id"]),
                "rows": [],
                "counts": {"fail": 0, "unknown": 0, "exempt": 0},
            }
            groups.append(current)
        current["counts"][f["status"]] += 1
        res = f["resource"]
        current["rows"].append(
            (
                f["status"],
                res["account"],
                res["region"],
                res["id"],
                res["arn"],
                f["message"],
                _evidence(f["evidence"]),
                f["first_seen"][:10],
                "new" if f["new"] else "",
                _action(f),
            )
        )
    return groups


_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _evidence(evidence: JSON) -> str:
    text = _ENCODE(evidence)
    return text if len(text) <= EVIDENCE_CHARS else text[: EVIDENCE_CHARS - 1] + "…"


def _action(f: Mapping[str, Any]) -> str:
    parts: list[str] = []
    if f["exemption"]:
        e = f["exemption"]
        by_tag = " by resource tag" if e.get("source") == "tag" else ""
        parts.append(f"exempt{by_tag} until {e['expires']} ({e['owner']}): {e['reason']}")
    if f["remediation"]:
        a = f["remediation"]
        parts.append(f"{a['action']} [{a['status']}, {a['mode']}]")
    return "; ".join(parts)


def trend_svg(points: list[Mapping[str, Any]], width: int = 560, height: int = 140) -> str:
    """An inline SVG line of the compliance score over the reports (escaped by construction)."""
    pad = 28
    scored = [(i, p["score"]) for i, p in enumerate(points) if p["score"] is not None]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="compliance score trend">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa" stroke="#ddd"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = height - pad - frac * (height - 2 * pad)
        parts.append(
            f'<line x1="{pad}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>'
            f'<text x="2" y="{y + 4:.1f}" font-size="10" fill="#777">{int(frac * 100)}%</text>'
        )
    n = max(len(points) - 1, 1)
    coords = [
        (pad + i * (width - pad - 12) / n, height - pad - s * (height - 2 * pad)) for i, s in scored
    ]
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline fill="none" stroke="#2563eb" stroke-width="2" points="{path}"/>')
    for (x, y), (i, s) in zip(coords, scored, strict=True):
        label = f"{points[i]['generated_at']}: {s * 100:.1f}%, {points[i]['failed']} failed"
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2563eb">'
            f"<title>{label}</title></circle>"
        )
    if not coords:
        parts.append(
            f'<text x="{pad}" y="{height / 2}" font-size="12">no scored reports yet</text>'
        )
    parts.append("</svg>")
    return "".join(parts)

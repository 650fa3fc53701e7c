"""The web page (report list) and the login form: self-contained, autoescaped Jinja2."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import jinja2

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1a1a1a}
table{border-collapse:collapse;width:100%}th,td{padding:.4rem .6rem;border-bottom:1px solid #ddd;
text-align:left}th{background:#f4f4f4}.bad{color:#b00020;font-weight:600}.ok{color:#1b5e20}
form.inline{display:inline}input[type=password]{width:28rem;max-width:100%}
"""

_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>auditor reports</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{{ style }}</style></head><body>
<h1>Compliance reports</h1>
<form class="inline" method="post" action="/logout"><button type="submit">Log out</button></form>
{% if reports %}
<table><thead><tr><th>Report</th><th>Generated</th><th>Score</th><th>Failed</th>
<th>Coverage</th><th>Signed</th><th>Downloads</th></tr></thead><tbody>
{% for r in reports %}<tr>
<td>{% if 'report.html' in r.files -%}
<a href="/api/v1/reports/{{ r.report_id }}/files/report.html">{{ r.report_id }}</a>
{%- else %}{{ r.report_id }}{% endif %}</td>
<td>{{ r.generated_at or 'unknown' }}</td>
<td>{{ 'n/a' if r.score is none else '%.1f%%'|format(r.score * 100) }}</td>
<td>{{ 'unknown' if r.failed is none else r.failed }}</td>
<td>{% if r.coverage_complete %}<span class="ok">complete</span>
{%- else %}<span class="bad">INCOMPLETE</span>{% endif %}</td>
<td>{% if r.signed %}yes{% else %}<span class="bad">no</span>{% endif %}</td>
<td>{% for f in r.files + ['manifest.json', 'manifest.sig'] -%}
<a href="/api/v1/reports/{{ r.report_id }}/files/{{ f|urlencode }}">{{ f }}</a>
{% endfor %}<a href="/api/v1/reports/{{ r.report_id }}/verify">verify</a></td>
</tr>{% endfor %}</tbody></table>
{% else %}<p>No reports yet in the reports directory.</p>{% endif %}
</body></html>
"""

_LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>auditor: log in</title>
<style>{{ style }}</style></head><body>
<h1>auditor reports</h1>
{% if error %}<p class="bad">{{ error }}</p>{% endif %}
<form method="post" action="/login">
<label>API token <input type="password" name="token" autocomplete="off" required></label>
<button type="submit">Log in</button></form>
<p>Create a token with <code>auditor tokens create --name NAME</code>.</p>
</body></html>
"""


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def index_html(reports: Sequence[dict[str, Any]]) -> bytes:
    return _env().from_string(_INDEX).render(reports=reports, style=_STYLE).encode("utf-8")


def login_html(error: str | None = None) -> bytes:
    return _env().from_string(_LOGIN).render(error=error, style=_STYLE).encode("utf-8")

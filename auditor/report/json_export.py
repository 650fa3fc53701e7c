"""report.json: the report document, as the JSON Schema in reports/ describes it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

from auditor.model import JSON


def json_chunks(report: Mapping[str, JSON]) -> Iterator[str]:
    """report.json: readable top level, one finding per line (fast C encoder, small memory)."""
    head = {k: v for k, v in report.items() if k != "findings"}
    text = json.dumps(head, indent=1, ensure_ascii=False)
    yield text[:-2] + ',\n "findings": ['
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    findings = report["findings"]
    assert isinstance(findings, list)
    for i, f in enumerate(findings):
        yield ("\n  " if i == 0 else ",\n  ") + encode(f)
    yield "\n ]\n}\n"

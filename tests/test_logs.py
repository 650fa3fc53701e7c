"""Logs are JSON lines when not on a terminal, including records from other libraries."""

from __future__ import annotations

import io
import json
import logging

import structlog

from auditor import logs


def test_every_line_is_json_including_stdlib_records() -> None:
    """The canonical line and a library's warning both arrive as JSON objects."""
    out = io.StringIO()
    logs.configure("info", stream=out, json=True)
    structlog.get_logger("auditor.cycle").info("cycle", cycle_id="c1", resources=3)
    library = logging.getLogger("a.library")  # a name no other test configures
    library.setLevel(logging.NOTSET)
    library.warning("missed by %s", "3s")
    logging.getLogger("botocore.endpoint").debug("request body with a secret")
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["event"], r["level"], r["logger"]) for r in records] == [
        ("cycle", "info", "auditor.cycle"),
        ("missed by 3s", "warning", "a.library"),
    ]
    assert records[0]["resources"] == 3


def test_level_filters_debug() -> None:
    """At info, debug events are dropped."""
    out = io.StringIO()
    logs.configure("info", stream=out, json=True)
    structlog.get_logger("auditor").debug("noise")
    assert out.getvalue() == ""

"""`auditor scan` shows live progress per account/region on a terminal, nothing otherwise."""

from __future__ import annotations

import io

from auditor.collect.runner import UnitDone
from auditor.commands.summary import live_progress
from auditor.model import Service


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_progress_callback_that_names_units_and_gaps() -> None:
    """Each finished unit advances the bar; a unit with gaps is called out."""
    out = Terminal()
    with live_progress(2, stream=out) as progress:
        assert progress is not None
        progress(UnitDone("111111111111", "us-east-1", Service.EC2, 40, 0))
        progress(UnitDone("111111111111", "eu-west-1", Service.ECS, 0, 1))
    shown = out.getvalue()
    assert "collecting" in shown
    assert "eu-west-1 ecs: 0 resources" in shown


def test_unknown_total_still_shows_progress() -> None:
    """With Organizations discovery or `regions: all` the total is unknown, not guessed."""
    with live_progress(None, stream=Terminal()) as progress:
        assert progress is not None
        progress(UnitDone("1", "us-east-1", Service.EC2, 1, 0))


def test_no_terminal_no_progress() -> None:
    """Off a terminal the canonical log line is the progress report."""
    with live_progress(4, stream=io.StringIO()) as progress:
        assert progress is None

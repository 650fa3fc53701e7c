"""An `Alert` as Slack messages: Block Kit, split to stay within Slack's limits."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from auditor.model import JSON, ActionRecord
from auditor.notify.alert import Alert, AlertKind
from auditor.notify.slack import render

ICONS: Mapping[AlertKind, str] = {
    "new": ":rotating_light:",
    "resolved": ":white_check_mark:",
    "remind": ":alarm_clock:",
    "gaps": ":warning:",
    "actions": ":wrench:",
    "test": ":white_check_mark:",
}


def _note(action: ActionRecord | None) -> str | None:
    if action is None:
        return None
    return (
        f":gear: remediation: {render.escape(action.action)} {action.status.value} ({action.mode})"
    )


def _findings(alert: Alert) -> list[dict[str, JSON]]:
    notes = alert.remediation
    return [
        render.finding_block(tf, alert.rules, note=_note(notes.get(tf.id))) for tf in alert.findings
    ]


def _resolved(alert: Alert) -> list[dict[str, JSON]]:
    return [render.resolved_block(tf, alert.rules) for tf in alert.findings]


def _gaps(alert: Alert) -> list[dict[str, JSON]]:
    lines = [f":warning: {render.escape(render.gap_line(g))}" for g in alert.gaps]
    return render.lines_sections(lines)


def _actions(alert: Alert) -> list[dict[str, JSON]]:
    return render.lines_sections([render.action_line(a) for a in alert.actions])


_BLOCKS: Mapping[AlertKind, Callable[[Alert], list[dict[str, JSON]]]] = {
    "new": _findings,
    "resolved": _resolved,
    "remind": _findings,
    "gaps": _gaps,
    "actions": _actions,
}


def test_message(alert: Alert) -> dict[str, JSON]:
    """The message `auditor notify test` posts."""
    return {
        "text": alert.title,
        "blocks": [
            render.header(f"{ICONS['test']} {alert.title}"),
            render.section(
                "If you can read this, auditor can post alerts to "
                f"{render.code(str(alert.destination))}."
            ),
            render.context(render.footer(alert.at, None)),
        ],
    }


def payloads(alert: Alert) -> list[dict[str, JSON]]:
    """The Slack messages of one alert: header, its items, a summary of what did not fit and
    a footer with the report link; "(1/3)" in the title when it takes several messages."""
    if alert.kind == "test":
        return [test_message(alert)]
    foot = render.footer(alert.at, alert.report_url)
    title = alert.title
    blocks = _BLOCKS[alert.kind](alert)
    return render.pack(f"{ICONS[alert.kind]} {title}", title, blocks, foot, alert.summary)

"""`auditor notify test`: prove every configured alert destination can be reached."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """\
Send a test message to each configured alert destination (Slack's default webhook or
channel, every route and every tag channel, and the JSON webhook of `webhook:`) and print
ok or failed for each. Secrets are read from the environment variables or files the config
names and are never printed.

example:
  AUDITOR_SLACK_WEBHOOK=https://hooks.slack.com/services/... auditor notify test
  auditor notify test --config auditor.yaml
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "notify",
        help="alerts (Slack, JSON webhook)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="notify_command", metavar="{test}", required=True)
    test = actions.add_parser(
        "test",
        help="send a test message to each configured destination",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    test.add_argument(
        "--config", type=Path, default=None, help="config file (default ./auditor.yaml)"
    )
    test.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from auditor.errors import ExitCode
    from auditor.model import SystemClock
    from auditor.notify.testmessage import send_test_messages
    from auditor.settings import load_settings

    settings = load_settings(args.config)
    outcomes = send_test_messages(settings, SystemClock())
    if not outcomes:
        print(
            "nothing to test: no alert destination is configured (set AUDITOR_SLACK_WEBHOOK, "
            "or slack.token_env with slack.default_channel, or webhook.url_env)"
        )
        return ExitCode.BAD_INPUT
    for destination, error in outcomes.items():
        print(f"{destination}: ok" if error is None else f"{destination}: failed ({error})")
    return ExitCode.OK if all(e is None for e in outcomes.values()) else ExitCode.VIOLATIONS

"""docs/cli.md, generated from the parser itself: every command's --help, verbatim.

    python -m auditor.commands.cli_doc > docs/cli.md

A test fails when the file and the parser differ, so the reference cannot drift.
"""

from __future__ import annotations

import argparse
import os

WIDTH = "100"

HEADER = """\
# Command-line reference

Generated from the parser (`python -m auditor.commands.cli_doc > docs/cli.md`); a test keeps
it identical to `auditor COMMAND --help`. Exit codes everywhere: 0 ok, 1 violations at or
above `--fail-on`, 2 bad usage or input (file, line and field named), 3 collection
incomplete, 4 a report failed verification; each command lists the ones it uses.
"""


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    out: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            out.extend(sorted(action.choices.items()))
    return out


def render() -> str:
    """The whole reference, as markdown."""
    os.environ["COLUMNS"] = WIDTH  # argparse wraps to the terminal: fix it for a stable file
    from auditor.cli import build_parser

    root = build_parser()
    parts = [HEADER, "## auditor\n", "```text\n" + root.format_help() + "```\n"]

    def walk(prefix: str, parser: argparse.ArgumentParser, depth: int) -> None:
        for name, child in _subcommands(parser):
            title = f"{prefix} {name}"
            parts.append(f"{'#' * depth} {title}\n")
            parts.append("```text\n" + child.format_help() + "```\n")
            walk(title, child, depth + 1)

    walk("auditor", root, 2)
    return "\n".join(parts)


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")

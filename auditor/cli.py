"""The `auditor` command: parse arguments, call the pipeline, map errors to exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from auditor import __version__
from auditor.errors import AuditorError

EPILOG = """\
exit codes: 0 ok; 1 violations at or above --fail-on; 2 bad usage, config or rule file;
            3 collection incomplete; 4 a report failed verification;
            5 the cycle was committed but its report could not be written (disk full,
              reports.dir unwritable): recorded as unreported, repaired by the next run
docs: README.md and docs/ (configuration, rules, reports, alerts, remediation, operations)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditor",
        description="Drift detection and compliance auditing for immutable infrastructure on AWS.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    parser.add_argument("--log-level", default="info", help="debug, info, warning, error")
    parser.add_argument(
        "--log-json", action="store_true", default=None, help="JSON logs even on a terminal"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from auditor.commands import (
        completion,
        demo,
        init,
        keys,
        notify,
        reports,
        rules,
        run,
        scan,
        serve,
        tokens,
        verify,
        worker,
    )

    for module in (
        init, demo, scan, run, verify, rules, reports, keys, notify, serve, tokens, completion,
        worker,
    ):  # fmt: skip
        module.register(sub)
    from auditor.commands.exit_codes import epilog

    for name, command in sub.choices.items():
        command.epilog = epilog(name)
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # a reader that went away shows here, inside the handler
    except BrokenPipeError:
        # `auditor reports list | head`: the reader closed the pipe; stop quietly, like any
        # Unix tool killed by SIGPIPE, without a traceback at interpreter exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + 13
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asking for completions (`auditor completion`)
        import argcomplete

        argcomplete.autocomplete(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help / --version (0) and usage errors (2)
        return int(exc.code or 0)
    from auditor import logs

    logs.configure(args.log_level, json=args.log_json)
    try:
        return int(args.handler(args))
    except AuditorError as exc:
        print(f"auditor: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("auditor: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

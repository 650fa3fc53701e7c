"""What each command's exit code means: the one table `--help` and docs/cli.md show.

The codes themselves are the contract of DESIGN.md (0 ok, 1 violations, 2 bad input,
3 incomplete coverage, 4 verification failed), extended by 5 (the cycle was committed but
its report could not be written); this says which of them each command uses.
"""

from __future__ import annotations

from collections.abc import Mapping

BAD_INPUT = "bad usage, config, rule pack or input file; the message names file, line and field"

UNWRITTEN = (
    "the cycle was committed but its report could not be written (disk full, reports.dir "
    "unwritable): recorded as unreported, published by the next run"
)

EXIT_CODES: Mapping[str, tuple[tuple[int, str], ...]] = {
    "init": (
        (0, "config (and key) written; the next command is printed"),
        (2, "no usable AWS credentials, or the config file exists (use --force)"),
    ),
    "demo": (
        (0, "the demo ran; the signed report's path is printed"),
        (2, "the demo needs the `demo` extra (moto): pip install 'auditor[demo]'"),
    ),
    "scan": (
        (0, "ok: nothing failing at or above --fail-on"),
        (1, "violations at or above --fail-on"),
        (2, BAD_INPUT),
        (3, "the cycle ran but collection was incomplete (wins over 1: a partial view is no pass)"),
        (5, UNWRITTEN),
    ),
    "run": (
        (0, "stopped cleanly (SIGTERM or SIGINT)"),
        (2, BAD_INPUT + "; also a missing signing key or a port in use at start"),
    ),
    "verify": (
        (0, "valid"),
        (2, "bad usage: an unreadable --key file, a path that does not exist"),
        (4, "invalid: each problem is printed, with what was expected and what was found"),
    ),
    "rules": ((0, "ok; the pack is valid"), (2, "an invalid rule pack, or an unknown rule id")),
    "reports": ((0, "ok"), (2, "unknown report id, or the report store cannot be read")),
    "report": (
        (0, "a signed report was published"),
        (2, BAD_INPUT + "; or no cycle stored yet"),
        (5, "the report could not be written (disk full, reports.dir unwritable)"),
    ),
    "keys": ((0, "ok"), (2, "the key file exists (no overwrite) or cannot be read")),
    "notify": (
        (0, "every destination answered ok"),
        (1, "at least one destination failed"),
        (2, "no destination is configured"),
    ),
    "serve": ((0, "stopped cleanly"), (2, BAD_INPUT + "; also a port in use")),
    "tokens": ((0, "ok"), (2, "bad usage: unknown token, bad expiry date")),
    "completion": ((0, "the script was printed"), (2, "unknown shell")),
    "worker": (
        (
            0,
            "stopped cleanly: warm shutdown on SIGTERM/SIGINT, or recycled after "
            "workers.max_units_per_process units",
        ),
        (2, BAD_INPUT + "; workers need a PostgreSQL store"),
    ),
    "workers": ((0, "ok"), (2, BAD_INPUT), (3, "the broker does not answer")),
}


def epilog(command: str) -> str:
    codes = EXIT_CODES.get(command)
    if not codes:
        return ""
    return "exit codes:\n" + "\n".join(f"  {code}  {meaning}" for code, meaning in codes)

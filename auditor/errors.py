"""The base exception of each layer; the CLI maps each to one clear line and an exit code."""

from __future__ import annotations

import re
from enum import IntEnum

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """`text` with control characters escaped: a key or value from a hostile file can never
    break one problem into two lines (or forge a line) in our messages and logs."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class ExitCode(IntEnum):
    OK = 0
    VIOLATIONS = 1
    BAD_INPUT = 2
    INCOMPLETE = 3
    VERIFY_FAILED = 4
    REPORT_UNWRITTEN = 5  # the cycle is committed; its report could not be written


class AuditorError(Exception):
    """Base of every error the CLI reports as one line."""

    exit_code: ExitCode = ExitCode.BAD_INPUT


class BadInputError(AuditorError):
    """Config, rule pack, exemption file or state file is wrong: names file, line, field."""

    exit_code = ExitCode.BAD_INPUT


class VerificationError(AuditorError):
    """A report bundle or chain failed verification."""

    exit_code = ExitCode.VERIFY_FAILED

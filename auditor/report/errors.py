"""The report layer's errors: one base, each mapped to one CLI line and exit code."""

from __future__ import annotations

from auditor.errors import AuditorError, ExitCode


class ReportError(AuditorError):
    """A report could not be built, signed or stored."""

    exit_code = ExitCode.BAD_INPUT


class SigningKeyError(ReportError):
    """The signing key is missing, unreadable or of the wrong type (never shows the key)."""


class StorageError(ReportError):
    """A bundle could not be stored, listed or fetched (local directory or S3)."""


class ReportWriteError(StorageError):
    """The bundle could not be written (disk full, reports.dir not a writable directory).

    Raised after the cycle was committed: the ledger marks its report unreported and the
    next run repairs it.
    """

    exit_code = ExitCode.REPORT_UNWRITTEN

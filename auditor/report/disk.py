"""The file operations a bundle is written with: one small interface, so a test can make the
disk fill up (ENOSPC) or fail at any step without patching the os module.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from auditor.report.errors import ReportWriteError

T = TypeVar("T")


class LocalDisk:
    """Write, fsync and rename on the local file system."""

    def write_chunks(self, path: Path, chunks: Iterable[str]) -> tuple[str, int]:
        """Write, hash and fsync in one pass; returns (sha256 hex, size)."""
        digest = hashlib.sha256()
        size = 0
        with open(path, "wb", buffering=1 << 20) as fh:
            for chunk in chunks:
                data = chunk.encode("utf-8")
                digest.update(data)
                size += len(data)
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return digest.hexdigest(), size

    def write(self, path: Path, body: bytes) -> None:
        with open(path, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())

    def publish(self, tmp: Path, target: Path) -> None:
        """Rename the finished bundle into place and make the rename durable."""
        os.rename(tmp, target)
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def os_error_line(where: Path, exc: OSError) -> str:
    """One line for an OSError: the path, the reason, no traceback."""
    reason = exc.strerror or type(exc).__name__
    return f"{where}: {reason}"


class CheckedDisk(LocalDisk):
    """Another disk's operations, with an OSError turned into ReportWriteError (one line)."""

    def __init__(self, inner: LocalDisk, report_id: str, out_dir: Path) -> None:
        self.inner = inner
        self.report_id = report_id
        self.out_dir = out_dir

    def _run(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except OSError as exc:
            raise ReportWriteError(
                f"cannot write report {self.report_id}: {os_error_line(self.out_dir, exc)}"
            ) from None

    def write_chunks(self, path: Path, chunks: Iterable[str]) -> tuple[str, int]:
        return self._run(lambda: self.inner.write_chunks(path, chunks))

    def write(self, path: Path, body: bytes) -> None:
        self._run(lambda: self.inner.write(path, body))

    def publish(self, tmp: Path, target: Path) -> None:
        self._run(lambda: self.inner.publish(tmp, target))

    def mkdir(self, path: Path) -> None:
        self._run(path.mkdir)

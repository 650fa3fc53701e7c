"""Test hook, not product code: `python -m tests.report.slow_writer ARGS` runs `auditor ARGS`
with report files written slowly and one line appended to a marker file each time a bundle's
report.json is started, so a test can kill -9 the process at a random moment while a given
bundle is being written.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from auditor.cli import main
from auditor.report.disk import LocalDisk

MARKER = Path(os.environ["AUDITOR_TEST_WRITING_MARKER"])
_write_chunks = LocalDisk.write_chunks
_write = LocalDisk.write
_publish = LocalDisk.publish


def write_chunks(self: LocalDisk, path: Path, chunks: Iterable[str]) -> tuple[str, int]:
    if path.name == "report.json":
        with MARKER.open("a") as fh:
            fh.write(f"{path.parent.name}\n")
    time.sleep(0.15)
    return _write_chunks(self, path, chunks)


def write(self: LocalDisk, path: Path, body: bytes) -> None:
    time.sleep(0.1)
    _write(self, path, body)


def publish(self: LocalDisk, tmp: Path, target: Path) -> None:
    _publish(self, tmp, target)
    time.sleep(0.2)  # between the rename and the ledger's record of it


LocalDisk.write_chunks = write_chunks  # type: ignore[method-assign]
LocalDisk.write = write  # type: ignore[method-assign]
LocalDisk.publish = publish  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The persistent cache of what is inside ECR images, by (digest, scope).

Written with the cycle that first read an image (insert-if-absent: an image already known
adds no row), read by the collectors for the digests they meet. The content is the
collector's redacted `imageContent` (location, detector, short hash): no secret value.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from auditor.model import JSON
from auditor.store.engine import insert_for, is_in
from auditor.store.tables import ImageContentRow, table

IMAGE_CONTENT = table(ImageContentRow)
CHUNK = 500

# (digest, scope, content)
ImageContentEntry = tuple[str, str, Mapping[str, JSON]]


def lookup(
    conn: sa.Connection, digests: Collection[str]
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Every stored (scope, content) of these digests, widest scope first (layers before
    config)."""
    wanted = sorted(set(digests))
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for start in range(0, len(wanted), CHUNK):
        batch = wanted[start : start + CHUNK]
        rows = conn.execute(
            sa.select(IMAGE_CONTENT.c.digest, IMAGE_CONTENT.c.scope, IMAGE_CONTENT.c.content)
            .where(is_in(conn, IMAGE_CONTENT.c.digest, batch))
            .order_by(IMAGE_CONTENT.c.digest, IMAGE_CONTENT.c.scope.desc())
        )
        for digest, scope, content in rows:
            if isinstance(content, dict):
                out.setdefault(str(digest), []).append((str(scope), content))
    return out


def insert_missing(conn: sa.Connection, entries: Sequence[ImageContentEntry], at: datetime) -> int:
    """Insert the (digest, scope) entries not stored yet; the number of rows added.

    One read of the keys already known, then one insert of the others with ON CONFLICT DO
    NOTHING (a concurrent writer of the same digest is not an error): a cycle that meets no
    new image writes nothing.
    """
    unique = {(d, s): c for d, s, c in entries}
    if not unique:
        return 0
    known: set[tuple[str, str]] = set()
    digests = sorted({d for d, _ in unique})
    for start in range(0, len(digests), CHUNK):
        batch = digests[start : start + CHUNK]
        rows = conn.execute(
            sa.select(IMAGE_CONTENT.c.digest, IMAGE_CONTENT.c.scope).where(
                is_in(conn, IMAGE_CONTENT.c.digest, batch)
            )
        )
        known.update((str(d), str(s)) for d, s in rows)
    new = [
        {"digest": d, "scope": s, "content": dict(c), "first_read_at": at}
        for (d, s), c in sorted(unique.items())
        if (d, s) not in known
    ]
    added = 0
    for start in range(0, len(new), CHUNK):
        stmt = insert_for(conn, IMAGE_CONTENT).on_conflict_do_nothing(
            index_elements=[IMAGE_CONTENT.c.digest, IMAGE_CONTENT.c.scope]
        )
        result = conn.execute(stmt, new[start : start + CHUNK])
        added += max(result.rowcount, 0)
    return added

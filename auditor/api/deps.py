"""Shared request parameters: the findings filter every list, export and page accepts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Query

from auditor.api.models import SeverityName, StatusName
from auditor.api.queries.findings import FindingFilter, SortKey

Text = Annotated[str | None, Query(max_length=256)]
Many = Annotated[list[str], Query(max_length=256)]


def finding_filter(
    rule: Annotated[list[str], Query(description="rule id (repeatable)")] = [],  # noqa: B006
    severity: Annotated[list[SeverityName | Literal[""]], Query()] = [],  # noqa: B006
    status: Annotated[list[StatusName | Literal[""]], Query()] = [],  # noqa: B006
    account: Annotated[list[str], Query()] = [],  # noqa: B006
    region: Annotated[list[str], Query()] = [],  # noqa: B006
    kind: Annotated[list[str], Query()] = [],  # noqa: B006
    control: Annotated[
        str | None, Query(max_length=128, description="framework control, e.g. CM-2")
    ] = None,
    first_seen_after: datetime | Literal[""] | None = None,
    first_seen_before: datetime | Literal[""] | None = None,
    owner: Annotated[str | None, Query(max_length=128, description="owner/team tag")] = None,
    q: Annotated[str | None, Query(max_length=256, description="free text")] = None,
    include_resolved: bool = False,
) -> FindingFilter:
    def clean(values: list[str]) -> tuple[str, ...]:
        return tuple(v for v in values if v)

    return FindingFilter(
        rule=clean(rule),
        severity=clean(list(severity)),
        status=clean(list(status)),
        account=clean(account),
        region=clean(region),
        kind=clean(kind),
        control=control or None,
        first_seen_after=_aware(first_seen_after),
        first_seen_before=_aware(first_seen_before),
        owner=owner or None,
        q=q or None,
        include_resolved=include_resolved,
    )


def _aware(value: datetime | str | None) -> datetime | None:
    """An HTML form sends "" for an empty field: that is no filter. Naive means UTC."""
    from datetime import UTC

    if value is None or isinstance(value, str):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


SortParam = Annotated[SortKey, Query(description="sort key; a leading - sorts descending")]
LimitParam = Annotated[int, Query(ge=1, le=500)]
CursorParam = Annotated[str | None, Query(max_length=2048)]

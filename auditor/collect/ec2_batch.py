"""Batched EC2 describe calls that survive one bad id.

DescribeImages, DescribeSecurityGroups and DescribeLaunchTemplateVersions fail the whole
request when one id in it is unknown or malformed. One deregistered AMI must not hide the
others: the ids AWS names in its error message are dropped and the rest retried; when the
message names none of them, the batch is halved until the bad id is isolated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import botocore.exceptions

from auditor.aws import error_code, error_message

# Error codes that mean "one of the requested ids does not exist / is not an id".
NOT_FOUND_CODES = frozenset(
    {
        "InvalidAMIID.NotFound",
        "InvalidAMIID.Malformed",
        "InvalidAMIID.Unavailable",
        "InvalidGroup.NotFound",
        "InvalidGroupId.Malformed",
        "InvalidLaunchTemplateId.NotFound",
        "InvalidLaunchTemplateId.Malformed",
        "InvalidLaunchTemplateId.VersionNotFound",
        "InvalidLaunchTemplateName.NotFoundException",
    }
)
_TOKEN = re.compile(r"[A-Za-z0-9_.$-]+")

BatchCall = Callable[[list[str]], list[Any]]


class IncompleteResponse(botocore.exceptions.BotoCoreError):
    """A successful response left out ids it was asked for, and asking again did not help."""

    fmt = "{operation} did not return {count} requested id(s), e.g. {example}"


def describe_ids(call: BatchCall, ids: Sequence[str], gone: set[str] | None = None) -> list[Any]:
    """`call(ids)`'s items, leaving out ids that AWS reports as unknown or malformed (added
    to `gone` when given).

    Any other error (AccessDenied, throttling past retries ...) is raised to the caller,
    which turns it into a CollectionGap.
    """
    out: list[Any] = []
    pending = list(dict.fromkeys(ids))
    while pending:
        try:
            out.extend(call(pending))
            return out
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in NOT_FOUND_CODES:
                raise
            named = set(_TOKEN.findall(error_message(exc)))
            bad = [i for i in pending if i in named]
            if bad:
                pending = [i for i in pending if i not in bad]
                if gone is not None:
                    gone.update(bad)
            elif len(pending) == 1:
                if gone is not None:
                    gone.update(pending)
                return out
            else:
                half = len(pending) // 2
                out.extend(describe_ids(call, pending[:half], gone))
                pending = pending[half:]
    return out


def describe_every_id(
    call: BatchCall, ids: Sequence[str], key: Callable[[Any], str], operation: str
) -> tuple[list[Any], set[str]]:
    """Like `describe_ids`, and proves completeness: every id asked for is returned or
    reported gone (returned as the second value). An id a successful response silently
    left out is asked for again; if a response makes no progress, IncompleteResponse is
    raised (a gap for the caller), never a silent miss."""
    out: list[Any] = []
    gone: set[str] = set()
    pending = list(dict.fromkeys(ids))
    while pending:
        items = describe_ids(call, pending, gone)
        out.extend(items)
        got = {key(item) for item in items}
        rest = [i for i in pending if i not in got and i not in gone]
        if rest and len(rest) == len(pending):
            raise IncompleteResponse(operation=operation, count=len(rest), example=rest[0])
        pending = rest
    return out, gone

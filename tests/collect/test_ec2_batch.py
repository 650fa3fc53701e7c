"""describe_ids: one unknown id in a batch must not hide the others."""

from __future__ import annotations

import botocore.exceptions
import pytest

from auditor.collect.ec2_batch import describe_ids


class FakeDescribe:
    """A batched describe call that fails like EC2 when a batch holds a missing id."""

    def __init__(self, existing: set[str], code: str, name_ids: bool) -> None:
        self.existing = existing
        self.code = code
        self.name_ids = name_ids
        self.calls: list[list[str]] = []

    def __call__(self, ids: list[str]) -> list[str]:
        self.calls.append(list(ids))
        missing = [i for i in ids if i not in self.existing]
        if missing:
            named = ", ".join(missing) if self.name_ids else "at least one id"
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": self.code, "Message": f"The ids '[{named}]' do not exist"}},
                "Describe",
            )
        return list(ids)


def test_ids_named_in_the_error_are_dropped_in_one_retry() -> None:
    """When AWS names the missing ids, one retry without them returns the rest."""
    call = FakeDescribe({"ami-1", "ami-3"}, "InvalidAMIID.NotFound", name_ids=True)

    found = describe_ids(call, ["ami-1", "ami-2", "ami-3", "ami-4"])

    assert found == ["ami-1", "ami-3"]
    assert len(call.calls) == 2


def test_unnamed_missing_id_is_isolated_by_halving() -> None:
    """When the error names no id, the batch is halved until the bad one is alone."""
    existing = {f"lt-{n}" for n in range(8)} - {"lt-5"}
    call = FakeDescribe(existing, "InvalidLaunchTemplateId.NotFound", name_ids=False)

    found = describe_ids(call, [f"lt-{n}" for n in range(8)])

    assert sorted(found) == sorted(existing)
    assert len(call.calls) <= 7


def test_malformed_id_is_dropped() -> None:
    """A malformed id (InvalidAMIID.Malformed) is treated like a missing one."""
    call = FakeDescribe({"ami-1"}, "InvalidAMIID.Malformed", name_ids=True)

    assert describe_ids(call, ["ami-1", "notanami"]) == ["ami-1"]


def test_other_errors_are_raised_for_the_caller_to_record() -> None:
    """AccessDenied is not a missing id: it propagates, to become a CollectionGap."""
    call = FakeDescribe(set(), "UnauthorizedOperation", name_ids=True)

    with pytest.raises(botocore.exceptions.ClientError) as caught:
        describe_ids(call, ["ami-1"])
    assert "UnauthorizedOperation" == caught.value.response["Error"]["Code"]


def test_duplicates_are_asked_once() -> None:
    """The same id referenced twice is requested once."""
    call = FakeDescribe({"sg-1"}, "InvalidGroup.NotFound", name_ids=True)

    assert describe_ids(call, ["sg-1", "sg-1"]) == ["sg-1"]
    assert call.calls == [["sg-1"]]

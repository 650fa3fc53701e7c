"""Collector fixtures: moto in-process, and a UnitContext bound to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auditor.aws import ApiCallCounter, AwsSessions, Target
from auditor.collect.base import PreviousState, UnitContext
from auditor.model import FixedClock

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def counter() -> ApiCallCounter:
    return ApiCallCounter()


@pytest.fixture
def make_ctx(aws: None, clock: FixedClock, counter: ApiCallCounter) -> Callable[..., UnitContext]:
    """Build a UnitContext for (ACCOUNT, region) whose clients count their API calls."""
    sessions = AwsSessions(base=boto3.Session(region_name=REGION), counter=counter)
    target = Target(ACCOUNT)

    def make(
        region: str = REGION,
        previous: PreviousState | None = None,
        image_refs: tuple[str, ...] = (),
    ) -> UnitContext:
        def client(service: str) -> Any:
            return sessions.client(target, service, region)

        return UnitContext(
            account=ACCOUNT,
            region=region,
            client=client,
            clock=clock,
            previous=previous or PreviousState(),
            image_refs=image_refs,
            record=counter.record,
        )

    return make

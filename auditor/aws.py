"""The only place that builds boto3 sessions and clients.

Honours the standard AWS environment unchanged (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL,
...): boto3 reads it. Adds what every caller needs: assume-role into member accounts,
botocore's adaptive retry mode, and a count of every API call and error per operation.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.config
import botocore.credentials
import botocore.exceptions
import botocore.utils

USER_AGENT = "auditor"
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0


class DeadlineExceeded(botocore.exceptions.BotoCoreError):
    """The unit or cycle deadline passed: no further request (nor retry) is sent."""

    fmt = "deadline exceeded before {operation} could be sent"


# a context variable, not a thread-local: threads started with a copy of the context (a
# unit's user-data reads) keep their unit's deadline
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "auditor_deadline", default=None
)


@contextlib.contextmanager
def deadline(at: float | None) -> Iterator[None]:
    """Every AWS request this thread sends inside the block is refused once `time.monotonic()`
    passes `at` (a retry included): what is not done by then becomes a gap, not a wait."""
    before = _DEADLINE.get()
    token = _DEADLINE.set(at if before is None or at is None else min(at, before))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _refuse_past_deadline(model: Any = None, **_: Any) -> None:
    at = _DEADLINE.get()
    if at is not None and time.monotonic() >= at:
        name = getattr(model, "name", "request")
        raise DeadlineExceeded(operation=name)


THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)

Limiter = Callable[[str, str, str], None]
"""Blocks until one call to (account, region, AWS API service) may go out."""


@dataclass
class UnitTally:
    """The AWS calls of one unit of work (all threads it runs on): what its log line and
    the per-unit metrics show."""

    calls: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    throttles: int = 0

    @property
    def retries(self) -> int:
        return max(0, self.attempts - sum(self.calls.values()))


_TALLY: contextvars.ContextVar[UnitTally | None] = contextvars.ContextVar(
    "auditor_unit_tally", default=None
)


@contextlib.contextmanager
def tally_calls() -> Iterator[UnitTally]:
    """Count the AWS calls made in this context (threads started with a copy of it too)."""
    tally = UnitTally()
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


@dataclass(frozen=True, slots=True)
class Target:
    """One account to audit, and how to get into it (None: the ambient credentials)."""

    account_id: str
    role_arn: str | None = None


# the account whose unit runs in this context: what shared clients sign with
_ACCOUNT: contextvars.ContextVar[Target | None] = contextvars.ContextVar(
    "auditor_account", default=None
)


@contextlib.contextmanager
def acting_for(target: Target) -> Iterator[None]:
    """Inside the block (and in threads started with a copy of its context), the clients
    `AwsSessions(shared_clients=True)` hands out for `target` sign as `target`."""
    token = _ACCOUNT.set(target)
    try:
        yield
    finally:
        _ACCOUNT.reset(token)


class ApiCallCounter:
    """Counts API calls and error responses per `service:Operation`, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()

    def attach(self, session: boto3.Session) -> None:
        session.events.register("before-call", self._on_call)
        session.events.register("after-call", self._on_response)
        session.events.register("before-send", _refuse_past_deadline)
        session.events.register("response-received", self._on_attempt)

    @staticmethod
    def _name(model: Any) -> str:
        # the IAM service prefix ("ecr", not the endpoint prefix "api.ecr"): matches gap names
        meta = model.service_model.metadata
        prefix = meta.get("signingName") or meta.get("endpointPrefix")
        return f"{prefix or model.service_model.service_name}:{model.name}"

    def _on_call(self, model: Any, **_: Any) -> None:
        name = self._name(model)
        with self._lock:
            self._calls[name] += 1
            tally = _TALLY.get()
            if tally is not None:
                tally.calls[name] += 1

    def record(self, name: str) -> None:
        """Count a request that is not a botocore call (an ECR blob download) as one call."""
        with self._lock:
            self._calls[name] += 1
            tally = _TALLY.get()
            if tally is not None:
                tally.calls[name] += 1

    def _on_attempt(self, parsed_response: Any = None, **_: Any) -> None:
        """Every HTTP attempt, retries included: the tally's retries and throttles."""
        tally = _TALLY.get()
        if tally is None:
            return
        code = ""
        if isinstance(parsed_response, Mapping):
            code = str(parsed_response.get("Error", {}).get("Code") or "")
        with self._lock:
            tally.attempts += 1
            if code in THROTTLE_CODES:
                tally.throttles += 1

    def _on_response(self, model: Any, http_response: Any = None, **_: Any) -> None:
        status = getattr(http_response, "status_code", 200)
        if status >= 400:
            with self._lock:
                self._errors[self._name(model)] += 1

    @property
    def calls(self) -> Mapping[str, int]:
        with self._lock:
            return dict(self._calls)

    @property
    def errors(self) -> Mapping[str, int]:
        with self._lock:
            return dict(self._errors)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._calls.values())


def client_config(
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    pool: int = 20,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> botocore.config.Config:
    """Per-call limits: a dead endpoint fails after `connect_timeout`, a black hole (accepts,
    never answers) after `read_timeout`, each retried up to `max_attempts` in all."""
    return botocore.config.Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        max_pool_connections=pool,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        user_agent_extra=USER_AGENT,
    )


class _ActingCredentials:
    """The credentials a shared client signs with: at every request (and retry), those of
    the account whose unit runs in the caller's context (`acting_for`). Outside any unit
    there are none: the request is refused (NoCredentialsError), never sent with another
    account's or the ambient credentials."""

    method = "auditor-acting-for"

    def __init__(self, sessions: AwsSessions) -> None:
        self._sessions = sessions

    def get_frozen_credentials(self) -> botocore.credentials.ReadOnlyCredentials:
        target = _ACCOUNT.get()
        if target is None:
            raise botocore.exceptions.NoCredentialsError()
        credentials = self._sessions.signing_credentials(target)
        if credentials is None:
            raise botocore.exceptions.NoCredentialsError()
        return credentials.get_frozen_credentials()


class AwsSessions:
    """Sessions and clients per account, region and service, shared across worker threads.

    Assumed-role credentials are kept per account and refreshed by botocore shortly before
    they expire (a long cycle, or a worker process that lives for days, never uses expired
    ones and never assumes a role per call). `limiter`, when given,
    paces every call per (account, region, API service); `max_clients` bounds the client
    cache of a long-lived process (least recently used first out).

    With `shared_clients` (distributed workers), a unit running `acting_for(target)` gets
    one client per (API service, region) shared by every account, signing each request
    with the credentials of the account in the caller's context: building a botocore client
    costs 5-15 ms of CPU, more than the rest of a typical unit, and a worker meets each
    (account, region, service) once per cycle. Connections are reused across accounts too.
    botocore's retry quota and adaptive rate of a shared client are per (service, region)
    in this process; pacing per account is `limiter`'s (the token bucket in Redis).
    """

    def __init__(
        self,
        base: boto3.Session | None = None,
        counter: ApiCallCounter | None = None,
        config: botocore.config.Config | None = None,
        session_name: str = "auditor",
        *,
        limiter: Limiter | None = None,
        max_clients: int | None = None,
        time_fetcher: Callable[[], datetime] | None = None,
        refusal_seconds: float | None = None,
        shared_clients: bool = False,
    ) -> None:
        self.base = base or boto3.Session()
        self.counter = counter or ApiCallCounter()
        self.config = config or client_config()
        self._session_name = session_name
        self._limiter = limiter
        self._max_clients = max_clients
        self._time_fetcher = time_fetcher
        self._lock = threading.Lock()
        self._assume_lock = threading.Lock()
        self._credentials: dict[str, botocore.credentials.Credentials] = {}
        # account -> (when, why) AssumeRole failed
        self._refused: dict[str, tuple[float, BaseException]] = {}
        self._refusal_seconds = refusal_seconds
        self._clients: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self._shared = shared_clients
        self._shared_clients: dict[tuple[str, str], Any] = {}
        self._sts: Any = None  # the ambient STS client that assumes every role
        self.counter.attach(self.base)
        # clients made from now on parse timestamps with the fast path (same values)
        botocore_session = self.base._session
        factory = botocore_session.get_component("response_parser_factory")
        factory.set_parser_defaults(timestamp_parser=parse_timestamp)
        self._caller_account: str | None = None

    @property
    def default_region(self) -> str:
        return self.base.region_name or "us-east-1"

    def ambient_client(self, service: str) -> Any:
        """A client with the ambient credentials in the default region (before any target
        is known, e.g. `auditor init` asking who the caller is)."""
        return self._make_client(self.base, service, self.default_region)

    def caller_account(self) -> str:
        if self._caller_account is None:
            sts = self._make_client(self.base, "sts", self.default_region)
            self._caller_account = str(sts.get_caller_identity()["Account"])
        return self._caller_account

    def credentials_for(self, target: Target) -> botocore.credentials.Credentials | None:
        """An account's assumed-role credentials (None: the ambient ones): one AssumeRole per
        account until shortly before they expire, when botocore refreshes them. A failed
        AssumeRole is not tried again for `refusal_seconds` (None: for this instance's life,
        one cycle in-process): every unit of the account gets its error at once, instead of
        each waiting out the same timeout in turn."""
        if target.role_arn is None:
            return None
        # one AssumeRole per account, even when its regions start at once
        with self._assume_lock:
            cached = self._credentials.get(target.account_id)
            if cached is not None:
                return cached
            refused = self._refused.get(target.account_id)
            if refused is not None:
                when, why = refused
                if self._refusal_seconds is None or time.monotonic() - when < self._refusal_seconds:
                    raise why
                del self._refused[target.account_id]
            role_arn = target.role_arn

            def fetch() -> dict[str, str]:
                sts = self._assume_client()
                creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=self._session_name)[
                    "Credentials"
                ]
                return {
                    "access_key": creds["AccessKeyId"],
                    "secret_key": creds["SecretAccessKey"],
                    "token": creds["SessionToken"],
                    "expiry_time": creds["Expiration"].isoformat(),
                }

            try:
                first = fetch()  # an error here is the unit's gap, as before
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                self._refused[target.account_id] = (time.monotonic(), exc)
                raise
            credentials = botocore.credentials.RefreshableCredentials(
                first["access_key"],
                first["secret_key"],
                first["token"],
                datetime.fromisoformat(first["expiry_time"]),
                fetch,
                "sts-assume-role",
                time_fetcher=self._time_fetcher or _local_now,
            )
            self._credentials[target.account_id] = credentials
            return credentials

    def _assume_client(self) -> Any:
        if self._sts is None:
            self._sts = self._make_client(self.base, "sts", self.default_region)
        return self._sts

    def signing_credentials(self, target: Target) -> botocore.credentials.Credentials | None:
        """What a request for `target` is signed with: its assumed-role credentials, or the
        ambient ones (None: there are none)."""
        if target.role_arn is None:
            return self.base.get_credentials()
        cached = self._credentials.get(target.account_id)  # no lock: not behind an AssumeRole
        return cached if cached is not None else self.credentials_for(target)

    def client(self, target: Target, service: str, region: str) -> Any:
        if self._shared and _ACCOUNT.get() == target:
            # the role is assumed here, once per account: a refusal is this unit's gap
            self.credentials_for(target)
            return self._shared_client(service, region)
        key = (target.account_id, service, region)
        with self._lock:
            found = self._clients.get(key)
            if found is not None:
                self._clients.move_to_end(key)
                return found
        made = self._make_client(self.base, service, region, self.credentials_for(target))
        if self._limiter is not None:
            limiter, account = self._limiter, target.account_id

            def pace(**_: Any) -> None:
                limiter(account, region, service)

            made.meta.events.register("before-call", pace)
        with self._lock:
            found = self._clients.setdefault(key, made)
            if self._max_clients is not None:
                while len(self._clients) > self._max_clients:
                    self._clients.popitem(last=False)
            return found

    def prepare(self, services: Iterable[str], regions: Iterable[str]) -> None:
        """Build the shared clients of these API services and regions now: a worker does it
        before it takes units, so its first units do not pay for loading service models and
        building clients (about 15 ms of CPU per client, once per process)."""
        if not self._shared:
            return
        self._assume_client()
        for region in regions:
            for service in services:
                self._shared_client(service, region)

    def _shared_client(self, service: str, region: str) -> Any:
        key = (service, region)
        with self._lock:
            found = self._shared_clients.get(key)
        if found is not None:
            return found
        made = self._make_client(self.base, service, region)
        made._request_signer._credentials = _ActingCredentials(self)
        if self._limiter is not None:
            limiter = self._limiter

            def pace(**_: Any) -> None:
                target = _ACCOUNT.get()
                if target is not None:
                    limiter(target.account_id, region, service)

            made.meta.events.register("before-call", pace)
        with self._lock:
            return self._shared_clients.setdefault(key, made)

    def _make_client(
        self,
        session: boto3.Session,
        service: str,
        region: str,
        credentials: botocore.credentials.Credentials | None = None,
    ) -> Any:
        """A client of `session`; with `credentials`, signed with them. Every account's
        clients come from the one base session (a session per account would cost its
        creation, tens of milliseconds of CPU, in every process that meets the account)."""
        with self._lock:  # boto3 sessions are not thread-safe when creating clients
            if credentials is None:
                return session.client(service, region_name=region, config=self.config)  # type: ignore[call-overload]
            frozen = credentials.get_frozen_credentials()
            client = session.client(  # type: ignore[call-overload]
                service,
                region_name=region,
                config=self.config,
                aws_access_key_id=frozen.access_key,
                aws_secret_access_key=frozen.secret_key,
                aws_session_token=frozen.token,
            )
        # the signer asks refreshable credentials for fresh values at every request
        client._request_signer._credentials = credentials
        return client


# ISO 8601 as AWS query protocols write it: 2026-12-04T23:35:29.000Z
_ISO_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")


def parse_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser, with a fast path for the ISO 8601 form query APIs use.

    botocore hands every timestamp string to dateutil's general parser, a few hundred
    microseconds each: thousands of instances have thousands of them. The ISO form is
    read by `datetime.fromisoformat` (the same instant and offset); anything else (epoch
    numbers, RFC 822 dates, other precisions) goes to botocore as before.
    """
    if isinstance(value, str) and _ISO_TIMESTAMP.fullmatch(value):
        return datetime.fromisoformat(value)
    return botocore.utils.parse_timestamp(value)


def _local_now() -> datetime:
    return datetime.now(UTC)


def error_code(exc: BaseException) -> str:
    """A short, secret-free name for why an AWS call failed."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Message") or exc)[:500]
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return str(exc)[:500]
    return type(exc).__name__

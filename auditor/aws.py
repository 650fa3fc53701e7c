"""The only place that builds boto3 sessions and clients.

Honours the standard AWS environment unchanged (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL,
...): boto3 reads it. Adds what every caller needs: assume-role into member accounts,
botocore's adaptive retry mode, and a count of every API call and error per operation.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

USER_AGENT = "auditor"
DEFAULT_MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Target:
    """One account to audit, and how to get into it (None: the ambient credentials)."""

    account_id: str
    role_arn: str | None = None


class ApiCallCounter:
    """Counts API calls and error responses per `service:Operation`, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()

    def attach(self, session: boto3.Session) -> None:
        session.events.register("before-call", self._on_call)
        session.events.register("after-call", self._on_response)

    @staticmethod
    def _name(model: Any) -> str:
        # the IAM service prefix ("ecr", not the endpoint prefix "api.ecr"): matches gap names
        meta = model.service_model.metadata
        prefix = meta.get("signingName") or meta.get("endpointPrefix")
        return f"{prefix or model.service_model.service_name}:{model.name}"

    def _on_call(self, model: Any, **_: Any) -> None:
        with self._lock:
            self._calls[self._name(model)] += 1

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
    max_attempts: int = DEFAULT_MAX_ATTEMPTS, pool: int = 20, read_timeout: int = 60
) -> botocore.config.Config:
    return botocore.config.Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        max_pool_connections=pool,
        connect_timeout=10,
        read_timeout=read_timeout,
        user_agent_extra=USER_AGENT,
    )


class AwsSessions:
    """Sessions and clients per account, region and service, shared across worker threads."""

    def __init__(
        self,
        base: boto3.Session | None = None,
        counter: ApiCallCounter | None = None,
        config: botocore.config.Config | None = None,
        session_name: str = "auditor",
    ) -> None:
        self.base = base or boto3.Session()
        self.counter = counter or ApiCallCounter()
        self.config = config or client_config()
        self._session_name = session_name
        self._lock = threading.Lock()
        self._assume_lock = threading.Lock()
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}
        self.counter.attach(self.base)
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

    def session_for(self, target: Target) -> boto3.Session:
        """The session for an account: assume-role once per instance (one cycle)."""
        if target.role_arn is None:
            return self.base
        # one AssumeRole per account per cycle, even when its regions start at once
        with self._assume_lock:
            cached = self._sessions.get(target.account_id)
            if cached is not None:
                return cached
            sts = self._make_client(self.base, "sts", self.default_region)
            creds = sts.assume_role(RoleArn=target.role_arn, RoleSessionName=self._session_name)[
                "Credentials"
            ]
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=self.base.region_name,
            )
            self.counter.attach(session)
            self._sessions[target.account_id] = session
            return session

    def client(self, target: Target, service: str, region: str) -> Any:
        key = (target.account_id, service, region)
        with self._lock:
            found = self._clients.get(key)
        if found is not None:
            return found
        made = self._make_client(self.session_for(target), service, region)
        with self._lock:
            return self._clients.setdefault(key, made)

    def _make_client(self, session: boto3.Session, service: str, region: str) -> Any:
        with self._lock:  # boto3 sessions are not thread-safe when creating clients
            return session.client(service, region_name=region, config=self.config)  # type: ignore[call-overload]


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

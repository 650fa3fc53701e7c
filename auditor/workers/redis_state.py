"""What workers and the leader share through Redis besides messages: API rate limits
(a token bucket per account, region and API service) and the Organizations account list.

Both are optimisations over safety nets that stay on without them (botocore's adaptive
retries; asking Organizations every cycle): when Redis does not answer, calls go ahead
and the failure is logged, rather than stopping collection.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import redis
import structlog

from auditor.settings import WorkersConfig

log = structlog.get_logger(__name__)

# Reserve one token: refill by elapsed time (Redis's clock, shared by every worker), take
# one even if that goes negative, and return how long the caller must wait for it (ms).
# A negative balance is a queue of reservations: callers wait in turn, never retry.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate / 1000) - 1
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
if tokens >= 0 then return 0 end
return math.ceil(-tokens * 1000 / rate)
"""


def redis_client(config: WorkersConfig) -> redis.Redis:
    if not config.broker:
        raise ValueError("workers.broker is not set")
    return redis.Redis.from_url(config.broker, socket_connect_timeout=3, socket_timeout=5)


def key_prefix(config: WorkersConfig) -> str:
    return f"auditor:{config.queue}"


class TokenBuckets:
    """`acquire(account, region, service)` blocks until a call may go out: at most
    `rate_limit.per_second` calls per second per key on average, `burst` at once, across
    every worker that shares the Redis."""

    def __init__(
        self,
        config: WorkersConfig,
        client: redis.Redis | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._redis = client or redis_client(config)
        self._prefix = f"{key_prefix(config)}:bucket"
        self._rate = config.rate_limit.per_second
        self._burst = config.rate_limit.burst
        self._script = self._redis.register_script(_TAKE)
        self._sleep = sleep
        self._warned = threading.Event()
        self.waited_seconds = 0.0

    def __call__(self, account: str, region: str, service: str) -> None:
        self.acquire(account, region, service)

    def acquire(self, account: str, region: str, service: str) -> float:
        """Reserve one call; sleep until it is due; the seconds waited."""
        key = f"{self._prefix}:{account}:{region}:{service}"
        try:
            wait_ms = int(self._script(keys=[key], args=[self._rate, self._burst]))
        except redis.RedisError as exc:
            if not self._warned.is_set():
                self._warned.set()
                log.warning("rate_limit_unavailable", error=type(exc).__name__)
            return 0.0
        if wait_ms > 0:
            self._sleep(wait_ms / 1000)
            self.waited_seconds += wait_ms / 1000
        return wait_ms / 1000


class AccountCache:
    """The Organizations account list, kept in Redis for `organization.cache_seconds`."""

    def __init__(self, config: WorkersConfig, client: redis.Redis | None = None) -> None:
        self._redis = client or redis_client(config)
        self._prefix = f"{key_prefix(config)}:accounts"

    def get(self, key: str) -> list[str] | None:
        try:
            raw = self._redis.get(f"{self._prefix}:{key}")
        except redis.RedisError as exc:
            log.warning("account_cache_unavailable", error=type(exc).__name__)
            return None
        if not isinstance(raw, bytes | str):
            return None
        return [str(a) for a in json.loads(raw)]

    def put(self, key: str, accounts: list[str], ttl_seconds: int) -> None:
        try:
            self._redis.set(f"{self._prefix}:{key}", json.dumps(accounts), ex=ttl_seconds)
        except redis.RedisError as exc:
            log.warning("account_cache_unavailable", error=type(exc).__name__)

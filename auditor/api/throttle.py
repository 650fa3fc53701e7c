"""Login throttling: at most N failed logins per client address per minute (sliding window)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

WINDOW = timedelta(minutes=1)
MAX_CLIENTS = 10_000  # bounded memory under a spray of source addresses


@dataclass
class LoginThrottle:
    per_minute: int = 10
    _failures: dict[str, deque[datetime]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, client: str, now: datetime) -> int:
        """Seconds the client must wait before another attempt (0: it may try now)."""
        with self._lock:
            seen = self._failures.get(client)
            if not seen:
                return 0
            while seen and now - seen[0] >= WINDOW:
                seen.popleft()
            if len(seen) < self.per_minute:
                return 0
            return max(1, int((seen[0] + WINDOW - now).total_seconds()) + 1)

    def failed(self, client: str, now: datetime) -> None:
        with self._lock:
            if client not in self._failures and len(self._failures) >= MAX_CLIENTS:
                self._failures.pop(next(iter(self._failures)))
            self._failures.setdefault(client, deque(maxlen=self.per_minute)).append(now)

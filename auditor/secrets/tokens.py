"""Provider token formats (AWS keys, GitHub/GitLab/Slack/Stripe tokens, JWTs ...) from a library.

We do not re-write providers' regexes: detect-secrets' format plugins supply them. Only the
format plugins are used; its keyword, basic-auth, private-key and entropy plugins are
replaced by the user-data-aware layer of this package (they are what raised false alarms on
`DB_PASSWORD=$(aws secretsmanager ...)`). Kingfisher is an alternative engine measured by
`bench/secrets.py` (docs/benchmarks.md says why detect-secrets stays the default).
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

FORMAT_PLUGINS = (
    "AWSKeyDetector",
    "ArtifactoryDetector",
    "AzureStorageKeyDetector",
    "DiscordBotTokenDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "JwtTokenDetector",
    "MailchimpDetector",
    "NpmDetector",
    "OpenAIDetector",
    "PypiTokenDetector",
    "SendGridDetector",
    "SlackDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TelegramBotTokenDetector",
    "TwilioKeyDetector",
)


@dataclass(frozen=True, slots=True)
class TokenHit:
    line: int  # 1-based
    detector: str
    value: str  # in memory only: hashed, then dropped


class TokenEngine(Protocol):
    name: str

    def scan(self, text: str) -> list[TokenHit]: ...


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")
    return starts


@cache
def _format_plugins() -> tuple[Any, ...]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    classes: dict[str, Any] = get_mapping_from_secret_type_to_class()
    by_name = {c.__name__: c for c in classes.values()}
    return tuple(by_name[n]() for n in FORMAT_PLUGINS if n in by_name)


class DetectSecretsEngine:
    """detect-secrets' format plugins. A whole-text search per plugin first: most user data
    holds no token, so the per-line work (the plugin's own analysis) runs only where one is."""

    name = "detect-secrets"

    def scan(self, text: str) -> list[TokenHit]:
        found: list[TokenHit] = []
        starts: list[int] | None = None
        lines: list[str] | None = None
        for plugin in _format_plugins():
            offsets = sorted({m.start() for r in plugin.denylist for m in r.finditer(text)})
            if not offsets:
                continue
            if starts is None or lines is None:
                starts, lines = _line_starts(text), text.split("\n")
            numbers = sorted({bisect.bisect_right(starts, o) for o in offsets})
            for number in numbers:
                for value in plugin.analyze_string(lines[number - 1]):
                    if value:
                        found.append(TokenHit(number, str(plugin.secret_type), str(value)))
        return found


_kingfisher_lock = threading.Lock()


@cache
def _kingfisher_scanner() -> Any:  # pragma: no cover - optional engine, bench only
    from kingfisher_sdk import Rules, Scanner

    return Scanner(Rules(), base64=False)


class KingfisherEngine:  # pragma: no cover - optional engine, bench only
    """Kingfisher's rules (pip install kingfisher-secret-scanner): visible findings only."""

    name = "kingfisher"

    def scan(self, text: str) -> list[TokenHit]:
        with _kingfisher_lock:
            scanner = _kingfisher_scanner()
        out: list[TokenHit] = []
        for finding in scanner.scan(text):
            if finding.visible and finding.secret:
                out.append(TokenHit(int(finding.location["line"]), finding.rule_id, finding.secret))
        return out

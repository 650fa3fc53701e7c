"""The detector: secrets in user data and container environments, as located hits.

Provider token formats come from a library (tokens.py); this module is the layer that knows
user data and environments: private key blocks, credentials in URLs, command-line flags,
plaintext SecureStrings, piped passwords, and secret-named assignments whose value is a
literal (values.py decides; references are never secrets). Values live only in memory
here: a hit keeps where, which detector and a 12-hex hash.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

from auditor.model import SecretHit, sha256_hex
from auditor.secrets import shapes
from auditor.secrets.names import secret_name
from auditor.secrets.tokens import DetectSecretsEngine, TokenEngine
from auditor.secrets.values import ValueKind, classify, is_reference, strip_quotes

NAME_DETECTOR = "Secret-looking variable name"
FLAG_DETECTOR = "Command-line credential flag"
URL_DETECTOR = "Credentials in URL"
KEY_DETECTOR = "Private key block"
SECURE_STRING_DETECTOR = "Plaintext SecureString"
PIPED_DETECTOR = "Password piped to a command"
WRITTEN_DETECTOR = "Secret written to a file"

# Detector -> why it fires; `auditor rules explain` prints these for the secret rules.
REASONS: dict[str, str] = {
    KEY_DETECTOR: "a -----BEGIN ... PRIVATE KEY----- block with a key body (hash of the body)",
    URL_DETECTOR: "scheme://user:password@host with a literal password (URLs, DSNs, git/curl)",
    FLAG_DETECTOR: (
        "a literal value after a credential flag: mysql -p, docker login -p/--password,"
        " sshpass -p, curl -u user:pw, --password=, sqlcmd -P, redis-cli -a, net user,"
        " aws configure set, PowerShell -Password/-SecretKey, Authorization headers"
    ),
    SECURE_STRING_DETECTOR: "PowerShell ConvertTo-SecureString of a literal with -AsPlainText",
    PIPED_DETECTOR: "a literal echoed into --password-stdin, chpasswd or passwd --stdin",
    WRITTEN_DETECTOR: (
        "a literal echoed into a file named like a secret (~/.vault_pass, db_password),"
        " or a .netrc password"
    ),
    NAME_DETECTOR: (
        "a variable or key named like a secret (PASSWORD, TOKEN, SECRET, API_KEY ...) holding a"
        " literal: not a reference ($(...), $VAR, ARN, ssm:/secretsmanager:/vault:, a path),"
        " number, duration, boolean, URL, host or settings word"
    ),
}
LIBRARY_REASON = "a provider token format (detect-secrets format plugin: AWS, GitHub, Slack ...)"
NOT_SECRETS = (
    "command substitutions and variable references ($(...), `...`, $X, ${X}, $env:X, %X%)",
    "ARNs and ssm:, secretsmanager:, vault:, {{resolve:...}} references; parameter paths",
    "numbers, durations, booleans, URLs without a password, host names, settings words",
)

_KEY_BLOCK = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"(?P<body>.*?-----END|(?:\r?\n[ \t]*[A-Za-z0-9+/=]{16,}[ \t]*)+)",
    re.DOTALL,
)
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<user>[^\s:/@'\"]*):(?P<pw>[^\s@'\"/]+)@(?P<host>[^\s/'\":@?#]+)",
    re.IGNORECASE,
)
_PLACEHOLDER_PW = re.compile(r"^(\*+|x+|%s|\{\}|\{[a-z_]*\}|<[^>]*>|password|pass|pwd)$", re.I)
# Lines worth the per-line parsers: a secret word, a tool, a URL with @, or a key block.
_TRIGGER = re.compile(
    r"pass|pwd|secret|token|key|auth|cred|dsn|conn|database_url|webhook|://[^\s]*@|mysql"
    r"|mariadb|sshpass|docker|podman|nerdctl|login|curl|wget|redis-cli|mongo|sqlcmd|bcp|osql"
    r"|net\s+user|chpasswd|securestring|htpasswd|apikey|machine\s",
    re.IGNORECASE,
)
_MIN_KEY_BODY = 40
# A value with its own structure (a DSN, a connection string, JSON): its parts are judged.
_STRUCTURED = re.compile(r"^\s*[{\[]|[A-Za-z][A-Za-z ]*=[^;]*;|://")


def short_hash(value: str) -> str:
    """The 12-hex hash evidence keeps: lets two reports say "same secret", never the value."""
    return sha256_hex(value)[:12]


def _literal(value: str) -> str | None:
    """The unquoted value when it is a literal secret, else None."""
    kind, _ = classify(value)
    return strip_quotes(value) if kind is ValueKind.LITERAL else None


def _url_passwords(line: str) -> Iterator[tuple[str, str]]:
    for match in _URL_CREDENTIALS.finditer(line):
        password = match.group("pw")
        if is_reference(password) or _PLACEHOLDER_PW.match(password):
            continue
        yield f"URL {match.group('scheme').lower()}://{match.group('host')}", password


def _line_candidates(line: str) -> Iterator[tuple[str, str, str]]:
    """(detector, where, value) for one line; values are literal secrets."""
    for where, password in _url_passwords(line):
        yield URL_DETECTOR, where, password
    for where, value in shapes.secure_strings(line):
        if (literal := _literal(value)) is not None:
            yield SECURE_STRING_DETECTOR, where, literal
    for where, value in shapes.piped(line):
        if not is_reference(value) and value:
            yield PIPED_DETECTOR, where, value
    for where, value in shapes.written(line):
        if (literal := _literal(value)) is not None:
            yield WRITTEN_DETECTOR, where, literal
    for where, value in shapes.flags(line):
        if (literal := _literal(value)) is not None:
            yield FLAG_DETECTOR, where, literal
    for name, value in shapes.assignments(line):
        if (literal := _literal(value)) is not None and not _URL_CREDENTIALS.search(literal):
            yield NAME_DETECTOR, name, literal


class Detector:
    """Scans texts and NAME=value pairs; the token engine is chosen once (see tokens.py)."""

    def __init__(self, engine: TokenEngine | None = None) -> None:
        self.engine: TokenEngine = engine or DetectSecretsEngine()

    def candidates(self, text: str) -> list[tuple[int, str, str, str]]:
        """(line, detector, where, value) per distinct value; in memory only."""
        found: dict[str, tuple[int, str, str, str]] = {}
        key_lines: set[int] = set()
        starts: list[int] | None = None
        if "PRIVATE KEY" in text:
            starts = _line_starts(text)
            for match in _KEY_BLOCK.finditer(text):
                body = re.sub(r"(\\n|\\r|[\s|\"',])+", "", match.group("body"))
                body = body.removesuffix("-----END")
                if len(body) < _MIN_KEY_BODY or is_reference(body):
                    continue
                first = bisect.bisect_right(starts, match.start())
                last = bisect.bisect_right(starts, match.end())
                key_lines.update(range(first, last + 1))
                found.setdefault(body, (first, KEY_DETECTOR, "private key", body))
        lines: list[str] | None = None
        for hit in self.engine.scan(text):
            if hit.line not in key_lines:
                if lines is None:
                    lines = text.split("\n")
                where = shapes.holder(lines[hit.line - 1], hit.value)
                found.setdefault(hit.value, (hit.line, hit.detector, where, hit.value))
        for number in _trigger_lines(text, starts):
            if number in key_lines:
                continue
            if lines is None:
                lines = text.split("\n")
            for detector, where, value in _line_candidates(lines[number - 1]):
                found.setdefault(value, (number, detector, where, value))
        return sorted(found.values(), key=lambda c: (c[0], c[1], c[2]))

    def scan_text(self, text: str) -> tuple[SecretHit, ...]:
        """Hits in a multi-line text (user data), located by line number and variable/flag."""
        return tuple(
            SecretHit(_location(f"line {line}", where), detector, short_hash(value), where)
            for line, detector, where, value in self.candidates(text)
        )

    def scan_assignment(self, name: str, value: str, location: str) -> tuple[SecretHit, ...]:
        """Hits for one environment variable: by its name and value, and inside its value."""
        found: dict[str, tuple[str, str]] = {}
        for _, detector, where, secret in self.candidates(value):
            found.setdefault(secret, (detector, where))
        literal = _literal(value) if secret_name(name) else None
        if literal and not _STRUCTURED.search(literal) and not any(s in literal for s in found):
            found.setdefault(literal, (NAME_DETECTOR, name))
        return tuple(
            SecretHit(location, detector, short_hash(secret), name)
            for secret, (detector, _where) in found.items()
        )


def _location(line: str, where: str) -> str:
    return f"{line} {where}" if where else line


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    return starts


def _trigger_lines(text: str, starts: list[int] | None) -> list[int]:
    offsets = [m.start() for m in _TRIGGER.finditer(text)]
    if not offsets:
        return []
    if starts is None:
        starts = _line_starts(text)
    return sorted({bisect.bisect_right(starts, o) for o in offsets})

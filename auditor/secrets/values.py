"""What a value is: a reference to a secret, a setting, or a literal that looks like a secret.

A name-based hit (DB_PASSWORD=..., --password ...) is only a secret when its value is a
literal. Fetching a secret at boot is the practice we recommend, so a command substitution,
a variable reference, an ARN, an `ssm:`/`secretsmanager:`/`vault:` reference or a parameter
path is a reference whatever its variable is called; numbers, durations, booleans, paths,
URLs without a password and a small vocabulary of settings words are settings.
"""

from __future__ import annotations

import re
from enum import StrEnum


class ValueKind(StrEnum):
    EMPTY = "empty"
    REFERENCE = "reference"
    SETTING = "setting"
    PLACEHOLDER = "placeholder"
    LITERAL = "literal"


_COMMAND = re.compile(r"^(\$\(|`|\(\s*(Get-|Read-|\[|\$|aws\b|curl\b|Invoke-)|\$\(\s*)", re.I)
_CMDLET = re.compile(r"^[A-Z][a-z]+-[A-Z][A-Za-z]+$")
_VARIABLE = re.compile(
    r"(\$\{|\$\(|\$[A-Za-z_][A-Za-z0-9_]*|\$env:[A-Za-z_]|%[A-Za-z_][A-Za-z0-9_]*%|`)"
)
_TEMPLATE = re.compile(r"^(\{\{.*\}\}|\{%.*%\}|<%.*%>|#\{.*\})$")
_REFERENCE_PREFIX = re.compile(
    r"^(arn:aws[a-z-]*:|ssm:|secretsmanager:|secrets-manager:|vault:|aws-sm:|aws-ssm:"
    r"|sm://|ssm://|vault://|resolve:|@Microsoft\.KeyVault\(|kms:|env:|file:|op://)",
    re.I,
)
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d+)?|\.\d+|0x[0-9a-f]+)([eE][+-]?\d+)?$", re.I)
_DURATION = re.compile(
    r"^(\d+(\.\d+)?\s*(ms|s|sec|secs|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)"
    r")+$|^P(\d+[YMWD])*(T(\d+[HMS])+)?$",
    re.I,
)
_BOOLEAN = re.compile(r"^(true|false|yes|no|on|off|enabled?|disabled?|y|n|t|f)$", re.I)
_PLACEHOLDER = re.compile(
    r"^(<[^<>]*>|\[[^\[\]]*\]|x{3,}|\*{3,}|\.{3}|-+|_+|redacted|replace[_-]?me|todo|tbd|"
    r"placeholder|your[_-].*[_-]here|none|null|nil|undefined|n/a|empty)$",
    re.I,
)
# Setting values a secret-named variable commonly holds (modes, algorithms, backends).
SETTINGS_VOCABULARY = frozenset(
    [
        "required",
        "optional",
        "strict",
        "lax",
        "relaxed",
        "lenient",
        "permissive",
        "plain",
        "plaintext",
        "basic",
        "bearer",
        "digest",
        "ntlm",
        "kerberos",
        "negotiate",
        "oauth",
        "oauth2",
        "oidc",
        "saml",
        "ldap",
        "jwt",
        "jwe",
        "jws",
        "hmac",
        "hs256",
        "hs384",
        "hs512",
        "rs256",
        "rs384",
        "rs512",
        "es256",
        "es384",
        "es512",
        "ps256",
        "eddsa",
        "sha1",
        "sha256",
        "sha384",
        "sha512",
        "md5",
        "bcrypt",
        "scrypt",
        "argon2",
        "argon2id",
        "pbkdf2",
        "aes",
        "aes128",
        "aes256",
        "aes-256-gcm",
        "rsa",
        "ecdsa",
        "ed25519",
        "header",
        "headers",
        "cookie",
        "cookies",
        "query",
        "body",
        "form",
        "memory",
        "memcached",
        "redis",
        "database",
        "db",
        "file",
        "files",
        "disk",
        "env",
        "environment",
        "vault",
        "ssm",
        "secretsmanager",
        "kms",
        "iam",
        "sts",
        "auto",
        "default",
        "custom",
        "internal",
        "external",
        "local",
        "remote",
        "static",
        "dynamic",
        "none",
        "always",
        "never",
        "sometimes",
        "session",
        "sessions",
        "token",
        "tokens",
        "password",
        "passwords",
        "secret",
        "secrets",
        "cache",
        "cached",
        "simple",
        "legacy",
        "standard",
        "rotating",
        "daily",
        "weekly",
        "monthly",
        "hourly",
        "lowercase",
        "uppercase",
        "alphanumeric",
        "numeric",
        "symbols",
        "access",
        "refresh",
        "id",
        "implicit",
        "code",
        "pkce",
        "client_credentials",
        "authorization_code",
    ]
)
_PATH = re.compile(r"^(/[^\s]*|\./\S*|\.\./\S*|~/\S*|[A-Za-z]:[\\/]\S*|\\\\\S+|s3://\S+)$")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://([^/@\s]*)@?", re.I)
_HOST = re.compile(r"^([a-z0-9-]+\.)+[a-z]{2,}(:\d+)?$", re.I)
_EMAIL = re.compile(r"^[^@\s]+@[a-z0-9-]+(\.[a-z0-9-]+)+$", re.I)
_IDENTIFIER = re.compile(r"^[a-z]+([._-][a-z]+)*$")
_MIN_LITERAL = 4


def strip_quotes(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'`":
        return value[1:-1]
    return value


def is_reference(value: str) -> bool:
    """A command substitution, variable reference, template, ARN or secret-store reference."""
    v = strip_quotes(value)
    return bool(
        _COMMAND.match(v)
        or _CMDLET.match(v)
        or _VARIABLE.search(v)
        or _TEMPLATE.match(v)
        or _REFERENCE_PREFIX.match(v)
        or "{{resolve:" in v
    )


def classify(value: str) -> tuple[ValueKind, str]:
    """The kind of a value and why, for name- and flag-based hits."""
    v = strip_quotes(value)
    if not v:
        return ValueKind.EMPTY, "empty"
    if is_reference(v):
        return ValueKind.REFERENCE, "reference (command, variable, ARN or secret store)"
    if _PATH.match(v):
        return ValueKind.REFERENCE, "path (a parameter path or file)"
    if _PLACEHOLDER.match(v):
        return ValueKind.PLACEHOLDER, "placeholder"
    url = _URL.match(v)
    if url:
        return ValueKind.SETTING, "URL (credentials in URLs are a detector of their own)"
    if _NUMBER.match(v) or _DURATION.match(v):
        return ValueKind.SETTING, "number or duration"
    if _BOOLEAN.match(v):
        return ValueKind.SETTING, "boolean"
    if v.lower() in SETTINGS_VOCABULARY:
        return ValueKind.SETTING, "settings word"
    if _EMAIL.match(v) or (_HOST.match(v) and not v.isdigit()):
        return ValueKind.SETTING, "host name or e-mail address"
    if len(v) < _MIN_LITERAL or len(set(v)) == 1:
        return ValueKind.SETTING, "too short to be a credential"
    return ValueKind.LITERAL, "literal"


def looks_like_identifier(value: str) -> bool:
    """A lowercase word or dotted/dashed words (a mode, a backend name), not a password."""
    return bool(_IDENTIFIER.match(strip_quotes(value)))

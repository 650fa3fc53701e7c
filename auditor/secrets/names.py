"""Which variable, key and flag names say their value is a secret.

Matched case-insensitively on the whole name with `-` and `.` read as `_`. A secret word
followed by a qualifier (`_ARN`, `_FILE`, `_LIFETIME`, `_MIN_LENGTH`, `_ISSUER` ...) names a
setting about the secret, or a reference to it, not the secret itself.
"""

from __future__ import annotations

import re
from functools import lru_cache

_SECRET_WORD = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|(^|_)PASS$|(^|_)PASS_|(^|_)PWD$|SECRET|TOKEN|API_?KEY"
    r"|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?$|(^|_)AUTH(_|$)|(^|_)DSN$|CONN(ECTION)?_?STR(ING)?"
    r"|DATABASE_URL|SIGNING_?KEY|ENCRYPTION_?KEY|MASTER_?KEY|CLIENT_?KEY|APP_?KEY|LICENSE_?KEY"
    r"|SECRET_?KEY|SESSION_?KEY|(^|_)KEY_?SECRET|WEBHOOK_?URL|AUTHORIZATION)",
    re.IGNORECASE,
)
# A qualifier after the secret word: the name is about the secret, not the secret.
_QUALIFIER = re.compile(
    r"(_ARN|_FILE|_PATH|_NAME|_ID|_IDS|_ENV|_REF|_VERSION|_TTL|_EXPIRY|_EXPIRES|_EXPIRATION"
    r"|_EXPIRES_IN|_LIFETIME|_TIMEOUT|_HEADER|_HEADER_NAME|_TYPE|_LENGTH|_MIN_LENGTH"
    r"|_MAX_LENGTH|_MIN|_MAX|_POLICY|_PROVIDER|_BACKEND|_STORE|_HASHER|_ALGORITHM|_ALG|_MODE"
    r"|_METHOD|_ISSUER|_AUDIENCE|_ENDPOINT|_HOST|_PORT|_REGION|_ENABLED|_DISABLED|_REQUIRED"
    r"|_ROTATION|_ROTATION_DAYS|_DAYS|_HOURS|_SECONDS|_MINUTES|_COUNT|_RETRIES|_SIZE|_BYTES"
    r"|_URI|_URL_ENV|_SSM|_PARAM|_PARAMETER|_PARAMETER_NAME|_SECRET_ID|_KEY_ID|_STDIN|_PROMPT"
    r"|_LOCATION|_DIR|_PREFIX|_FORMAT|_SCOPE|_SCOPES|_KIND|_SOURCE|_CACHE|_REFRESH_INTERVAL"
    r"|_INTERVAL|_CHARS|_COMPLEXITY|_HISTORY|_STRENGTH|_ATTEMPTS|_LOCKOUT|_RESET_URL"
    r"|_COOKIE|_COOKIE_NAME|_FIELD|_KEY_NAME|_USER|_USERNAME|_LOGIN|_HASH|_DIGEST|_FINGERPRINT"
    r"|_CHECKSUM|_CA_CERT|_CERT|_REGEX|_PATTERN|_RULES|_HINT|_LABEL|_DESCRIPTION)$",
    re.IGNORECASE,
)
_NOT_SECRET = re.compile(r"^(PWD|OLDPWD|PASSWORD_AUTHENTICATION|AUTHOR|AUTHORS)$", re.IGNORECASE)


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def normalise(name: str) -> str:
    """`apiKeyHeader`, `api-key-header`, `API_KEY_HEADER` -> `API_KEY_HEADER`."""
    name = _CAMEL.sub("_", name.strip().strip("-").strip("$"))
    return re.sub(r"[-.\s]+", "_", name).upper()


@lru_cache(maxsize=8192)  # a pure function of a name; reports ask for the same keys each finding
def secret_name(name: str) -> bool:
    """True when a variable, key or flag name says it holds a secret."""
    n = normalise(name)
    if n.startswith("ENV:"):
        n = n[4:]
    if not n or _NOT_SECRET.match(n):
        return False
    return bool(_SECRET_WORD.search(n)) and not _QUALIFIER.search(n)

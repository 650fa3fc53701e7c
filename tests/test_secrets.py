"""Secrets are detected and redacted at the edge: only location, detector and short hash."""

from __future__ import annotations

import base64
import gzip

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.model import canonical_json
from auditor.secrets import (
    redacted_text,
    redacted_value,
    scan_assignment,
    scan_text,
    secret_name,
)

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
USER_DATA = """#!/bin/bash
yum install -y nginx
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export DB_PASSWORD=hunter2hunter2
echo ready
curl https://deploy:pa55word@artifacts.example.com/app.tgz
"""


def test_user_data_secrets_found_by_line_and_never_kept() -> None:
    """gzip+base64 user data: each secret line reported, no value in the redacted object."""
    raw = base64.b64encode(gzip.compress(USER_DATA.encode()))
    red = redacted_text(raw)
    assert red["present"] is True
    assert red["size"] == len(USER_DATA.encode())
    assert [s["location"] for s in red["secrets"]] == [
        "line 3 AWS_ACCESS_KEY_ID",
        "line 4 DB_PASSWORD",
        "line 6 URL https://artifacts.example.com",
    ]
    assert all(len(s["hash"]) == 12 for s in red["secrets"])
    dumped = canonical_json(red)
    for value in ("AKIAIOSFODNN7EXAMPLE", "hunter2hunter2", "pa55word"):
        assert value not in dumped


def test_clean_user_data_has_no_hits() -> None:
    """Ordinary bootstrap scripts do not produce false positives."""
    text = "#!/bin/bash\nyum install -y nginx\nsystemctl enable --now nginx\necho $HOSTNAME\n"
    red = redacted_text(base64.b64encode(text.encode()))
    assert red["secrets"] == []


def test_absent_user_data() -> None:
    """No user data is 'not present', with no hash."""
    assert redacted_text(None) == {"present": False, "sha256": None, "size": 0, "secrets": []}


def test_environment_variables() -> None:
    """By detector, by name; references (ARNs) and ordinary settings are not secrets."""
    assert {h.detector for h in scan_assignment("AWS_SECRET_ACCESS_KEY", AWS_SECRET, "env")} == {
        "Secret-looking variable name"
    }
    assert scan_assignment("DB_PASSWORD", "Sup3rS3cretValue!", "env")
    assert scan_assignment("LOG_LEVEL", "info", "env") == ()
    assert (
        scan_assignment("DB_PASSWORD_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:x", "env")
        == ()
    )
    assert scan_assignment("GIT_SHA", "3f786850e387550fdab836ed7e6dc881de23001b", "env") == ()
    red = redacted_value("API_TOKEN", "tok_live_abcdefghijklmnop", "container web env API_TOKEN")
    assert "tok_live" not in canonical_json(red)
    assert red["secrets"][0]["location"] == "container web env API_TOKEN"


def test_secret_names() -> None:
    """Names alone: *PASSWORD*, *TOKEN*, *SECRET*; but not *_ARN, *_FILE references."""
    assert secret_name("STRIPE_API_KEY")
    assert secret_name("github_token")
    assert not secret_name("PASSWORD_FILE")
    assert not secret_name("HOSTNAME")


def test_references_are_never_secrets_whatever_the_name() -> None:
    """Issue 14: runtime retrieval, variable references, ARNs, store references, paths."""
    for value in (
        "$(aws secretsmanager get-secret-value --secret-id x --query SecretString)",
        "${OTHER}",
        "$OTHER",
        "arn:aws:ssm:eu-west-1:111111111111:parameter/app/db",
        "ssm:/app/db",
        "secretsmanager:prod/db",
        "vault:secret/data/app#password",
        "/app/db/pass",
        "{{resolve:secretsmanager:prod/db}}",
    ):
        assert scan_assignment("DB_PASSWORD", value, "env") == (), value


def test_settings_named_like_secrets_are_not_secrets() -> None:
    """Numbers, durations, booleans, URLs, settings words under secret-ish names."""
    for name, value in (
        ("SESSION_TOKEN_LIFETIME", "900"),
        ("PASSWORD_MIN_LENGTH", "12"),
        ("TOKEN_TTL", "15m"),
        ("AUTH_ENABLED", "true"),
        ("OAUTH_ISSUER", "https://auth.example.com"),
        ("SECRET_BACKEND", "vault"),
    ):
        assert scan_assignment(name, value, "env") == (), name


def test_command_line_flags_are_located_by_tool_and_flag() -> None:
    """mysql -p, docker login -p, sshpass -p, curl -u: the location names the tool flag."""
    text = (
        "mysql -u root -pFakePw-001 app\n"
        "docker login -u ci -p FakePw-002 registry.example.com\n"
        "sshpass -p FakePw-003 ssh host\n"
        "curl -u deploy:FakePw-004 https://x.example.com\n"
        "mysql -u root -p app\n"
    )
    locations = [h.location for h in scan_text(text)]
    assert locations == [
        "line 1 mysql -p",
        "line 2 docker login -p",
        "line 3 sshpass -p",
        "line 4 curl -u",
    ]


def test_plaintext_securestring_and_private_key() -> None:
    """PowerShell SecureString from a literal; a private key block hashed by its body."""
    ps = 'ConvertTo-SecureString "FakeWinPw-1" -AsPlainText -Force\n'
    assert [h.detector for h in scan_text(ps)] == ["Plaintext SecureString"]
    body = "RkFLRSBQUklWQVRFIEtFWSBGT1IgVEhFIEFVRElUT1IgVEVTVCBDT1JQVVMg"
    key = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\n"
    indented = "  " + key.replace("\n", "\n  ")
    assert [h.location for h in scan_text(key)] == ["line 1 private key"]
    assert scan_text(key)[0].hash == scan_text(indented)[0].hash


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_any_text_scans_without_error_and_hits_hold_no_value(text: str) -> None:
    """Arbitrary user data never crashes the detector; a hit's fields are short and value-free."""
    for hit in scan_text(text):
        assert len(hit.hash) == 12
        assert hit.location.startswith("line ")


def test_unterminated_shapes_are_safe() -> None:
    """A key block without END, an open quote or $( : scanned, no error, no partial leak."""
    text = (
        "-----BEGIN RSA PRIVATE KEY-----\n" + "A" * 20000 + "\n"
        'export DB_PASSWORD="unterminated\n'
        "X=$(aws ssm get-parameter\n"
    )
    hits = scan_text(text)
    assert [h.location for h in hits] == ["line 1 private key", "line 3 DB_PASSWORD"]

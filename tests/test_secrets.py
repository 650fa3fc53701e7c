"""Secrets are detected and redacted at the edge: only location, detector and short hash."""

from __future__ import annotations

import base64
import gzip

from auditor.model import canonical_json
from auditor.secrets import redacted_text, redacted_value, scan_assignment, secret_name

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
    assert [s["location"] for s in red["secrets"]] == ["line 3", "line 4", "line 6"]
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
    assert {h.detector for h in scan_assignment("AWS_SECRET_ACCESS_KEY", AWS_SECRET, "env")} >= {
        "Secret Keyword"
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

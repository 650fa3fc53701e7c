"""Contract: API tokens are shown once, stored only as a hash, and can be listed and revoked."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext

from auditor.cli import main
from auditor.store import Store
from auditor.store.tokens import TOKENS, authenticate, create_token, list_tokens
from tests.report.factory import NOW


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "auditor.yaml"
    path.write_text(f"store: sqlite:///{tmp_path / 'auditor.db'}\n")
    return path


def test_cli_create_list_revoke_round_trip(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """create prints a working token once; list never shows it; revoke makes it stop working."""
    assert 0 == main(["tokens", "create", "--name", "ci", "--expires", "2999-01-01",
                      "--role", "auditor", "--config", str(config)])  # fmt: skip
    token = capsys.readouterr().out.splitlines()[0]
    assert token.startswith("aud_")
    assert 0 == main(["tokens", "list", "--config", str(config)])
    listing = capsys.readouterr().out
    assert token not in listing
    assert ["ci", "auditor", "2999-01-01", "active"] == [
        listing.splitlines()[1].split()[i] for i in (0, 1, 4, -1)
    ]

    store = Store.open(f"sqlite:///{tmp_path / 'auditor.db'}")
    try:
        assert "ci" == authenticate(store.engine, token, NOW)
        assert 0 == main(["tokens", "revoke", "ci", "--config", str(config)])
        assert None is authenticate(store.engine, token, NOW)
    finally:
        store.close()
    assert 0 == main(["tokens", "list", "--config", str(config)])
    assert "revoked" == capsys.readouterr().out.splitlines()[-1].split()[-1]


@pytest.mark.parametrize(
    "argv",
    [
        ["tokens", "revoke", "nobody"],
        ["tokens", "create", "--name", "ci", "--expires", "31/12/2027"],
        ["tokens", "create", "--name", "ci", "--expires", "2001-01-01"],
        ["tokens", "create", "--name", "ci"],  # the second time: a duplicate
        ["tokens", "create", "--name", "ci", "--role", "root"],
        ["tokens", "create", "--name", "ci", "--expires", "0d"],
    ],
)
def test_cli_bad_input_exits_2_with_one_line_error(
    config: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Unknown name, bad or past date, duplicate name: exit 2 and a one-line error on stderr."""
    assert 0 == main(["tokens", "create", "--name", "ci", "--config", str(config)])
    capsys.readouterr()
    assert 2 == main([*argv, "--config", str(config)])
    err = capsys.readouterr().err.strip().splitlines()
    assert "error" in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_only_the_hash_is_stored(tmp_path: Path) -> None:
    """No column of the token table holds the token value."""
    store = Store.open(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        token = create_token(store.engine, "ci", NOW)
        with store.engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(sa.select(TOKENS))]
    finally:
        store.close()
    assert 1 == len(rows)
    assert not any(token in str(cell) or token[4:] in str(cell) for cell in rows[0])


def test_last_used_is_written_at_most_once_a_minute(tmp_path: Path) -> None:
    """Many requests within a minute write last_used_at once; a later one moves it on."""
    store = Store.open(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        token = create_token(store.engine, "ci", NOW)
        seen = []
        for seconds in (0, 10, 59, 61):
            authenticate(store.engine, token, NOW + timedelta(seconds=seconds))
            seen.append(list_tokens(store.engine)[0].last_used_at)
    finally:
        store.close()
    first, later = NOW, NOW + timedelta(seconds=61)
    assert [first, first, first, later] == seen


def test_expiry_is_enforced_at_the_instant(tmp_path: Path) -> None:
    """A token works until its expiry and is refused from then on."""
    store = Store.open(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        token = create_token(store.engine, "ci", NOW, expires_at=NOW + timedelta(days=1))
        before = authenticate(store.engine, token, NOW + timedelta(hours=23))
        after = authenticate(store.engine, token, NOW + timedelta(days=1))
    finally:
        store.close()
    assert ("ci", None) == (before, after)


@pytest.mark.postgres
def test_migration_and_tokens_on_postgresql(postgres_url: str) -> None:
    """The 0002 and 0007 migrations run on PostgreSQL and tokens round-trip there with tz-aware times."""
    store = Store.open(postgres_url)
    try:
        with store.engine.connect() as conn:
            assert "0003_report_chain" == MigrationContext.configure(conn).get_current_revision()
        token = create_token(store.engine, "ci", NOW, expires_at=NOW + timedelta(days=3))
        assert "ci" == authenticate(store.engine, token, NOW + timedelta(minutes=5))
        info = list_tokens(store.engine)[0]
    finally:
        store.close()
    assert (NOW, NOW + timedelta(minutes=5)) == (info.created_at, info.last_used_at)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_tokens_from_before_roles_become_viewers(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Migration 0007 gives existing tokens the least role (fail closed), not admin."""
    from auditor.store.engine import make_engine, migrate
    from auditor.store.tokens import hash_token, identify

    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = make_engine(url)
    try:
        migrate(engine, "0002_api_tokens")
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO api_tokens (name, token_sha256, created_at) "
                    "VALUES ('old', :h, :at)"
                ),
                {"h": hash_token("aud_old-token"), "at": NOW},
            )
        migrate(engine)
        caller = identify(engine, "aud_old-token", NOW)
    finally:
        engine.dispose()
    assert ("old", "viewer") == (caller.name, caller.role) if caller else False

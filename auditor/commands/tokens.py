"""`auditor tokens create|list|revoke`: API tokens for `auditor serve`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.store import Store

DESCRIPTION = """\
Manage the API tokens `auditor serve` accepts. A token is printed once, at creation; the
store keeps only its SHA-256.

examples:
  auditor tokens create --name ci --expires 2027-06-30
  auditor tokens create --name alice --role operator --expires 30d
  auditor tokens list
  auditor tokens revoke ci
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "tokens",
        help="create, list and revoke API tokens",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ts = p.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)
    c = ts.add_parser("create", help="create a token and print it once", description=DESCRIPTION,
                      formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    c.add_argument("--name", required=True, help="a unique name, e.g. who or what uses it")
    c.add_argument(
        "--expires", type=_expiry, default=None, help="YYYY-MM-DD (end of access, UTC) or Nd"
    )
    c.add_argument(
        "--role",
        choices=("viewer", "auditor", "operator", "admin"),
        default="viewer",
        help="viewer reads; auditor also verifies and exports and requests exemptions; "
        "operator also approves exemptions and remediation; admin also manages tokens "
        "(default viewer)",
    )
    _config(c)
    c.set_defaults(handler=create)
    ls = ts.add_parser("list", help="list tokens (never their values)")
    _config(ls)
    ls.set_defaults(handler=list_tokens)
    r = ts.add_parser("revoke", help="revoke a token by name")
    r.add_argument("name", metavar="NAME")
    _config(r)
    r.set_defaults(handler=revoke)


def _config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None, help="config file (default ./auditor.yaml)")


def _expiry(text: str) -> datetime:
    """An absolute date, or a lifetime in days from now ("30d")."""
    if text.endswith("d") and text[:-1].isdigit() and 0 < int(text[:-1]) <= 36500:
        return datetime.now(UTC) + timedelta(days=int(text[:-1]))
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected YYYY-MM-DD or a number of days like 30d, got {text!r}"
        ) from None


def _open(args: argparse.Namespace) -> Store:
    from auditor.settings import load_settings
    from auditor.store import Store

    return Store.open(load_settings(args.config).store)


def create(args: argparse.Namespace) -> int:
    from auditor.store.tokens import create_token

    store = _open(args)
    try:
        token = create_token(
            store.engine, args.name, datetime.now(UTC), args.expires, role=args.role
        )
    finally:
        store.close()
    print(token)
    print(
        f"token {args.name.strip()!r} (role {args.role}) created: store it now, "
        "it is not shown again"
    )
    return 0


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def list_tokens(args: argparse.Namespace) -> int:
    from auditor.store.tokens import list_tokens as load

    store = _open(args)
    try:
        tokens = load(store.engine)
    finally:
        store.close()
    if not tokens:
        print("no tokens (create one with `auditor tokens create --name NAME`)")
        return 0
    now = datetime.now(UTC)
    rows = [("NAME", "ROLE", "CREATED", "EXPIRES", "LAST USED", "STATUS")]
    rows += [
        (
            t.name,
            t.role,
            _when(t.created_at),
            _when(t.expires_at),
            _when(t.last_used_at),
            t.status(now),
        )
        for t in tokens
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    return 0


def revoke(args: argparse.Namespace) -> int:
    from auditor.store.tokens import revoke_token

    store = _open(args)
    try:
        revoke_token(store.engine, args.name, datetime.now(UTC))
    finally:
        store.close()
    print(f"token {args.name!r} revoked")
    return 0

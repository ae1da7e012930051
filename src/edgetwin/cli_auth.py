"""``edgetwin user`` and ``edgetwin token``: identities in the data dir, no server needed.

A new token is printed once, as the last word of the output, so a script can take it with
``| awk 'END {print $NF}'``; no command shows it again.
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from edgetwin.core.security import Role
from edgetwin.core.settings import load_settings
from edgetwin.security import IdentityStore

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", envvar="EDGETWIN_DATA_DIR", help="the data dir (default ./.edgetwin)"
    ),
]
Tenants = Annotated[
    list[str],
    typer.Option("--tenant", help="a tenant it may see; repeat for more, '*' for every tenant"),
]
RoleOpt = Annotated[Role, typer.Option("--role", help="viewer, operator or admin")]

user_app = typer.Typer(
    help="Users of the dashboard and the API (in the data dir).", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens (in the data dir).", no_args_is_help=True)


def _store(data_dir: Path | None) -> IdentityStore:
    settings = load_settings(data_dir=data_dir)
    return IdentityStore(settings.data_dir, settings.identities_file)


def _when(t: float | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@user_app.command("add")
def user_add(
    name: str,
    role: RoleOpt = Role.VIEWER,
    tenant: Tenants = ["acme"],  # noqa: B006 - typer's default
    password: Annotated[
        bool,
        typer.Option("--password/--no-password", help="ask for a password (else: a login link)"),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Add a user; with --password it asks for one, else it prints a one-time login link."""
    secret = None
    if password:
        secret = getpass.getpass("password (12 characters or more): ")
        if len(secret) < 12:
            raise _fail("the password needs 12 characters or more")
        if getpass.getpass("again: ") != secret:
            raise _fail("the two passwords differ")
    with _store(data_dir) as store:
        try:
            user = store.add_user(name, role, tenant, secret)
        except ValueError as exc:
            raise _fail(str(exc)) from exc
        store.audit("cli", "user.add", name, "ok", detail=f"role={role.value}")
        typer.echo(f"added {user.name}: {user.role.value} of {', '.join(sorted(user.tenants))}")
        if not password:
            code = store.create_login_code(name)
            typer.echo(f"one-time login (24 h): /auth/link?code={code}")


@user_app.command("link")
def user_link(name: str, data_dir: DataDir = None) -> None:
    """Print a new one-time login link for a user (valid 24 h, once)."""
    with _store(data_dir) as store:
        try:
            code = store.create_login_code(name)
        except ValueError as exc:
            raise _fail(str(exc)) from exc
        store.audit("cli", "user.link", name, "ok")
    typer.echo(f"one-time login for {name} (24 h): /auth/link?code={code}")


@user_app.command("list")
def user_list(data_dir: DataDir = None) -> None:
    """List users with their role and tenants."""
    with _store(data_dir) as store:
        users = store.users()
    if not users:
        typer.echo("no users (edgetwin up creates the first admin)")
    for u in users:
        pw = "password" if u.has_password else "link only"
        typer.echo(f"{u.name:<20} {u.role.value:<9} {','.join(sorted(u.tenants)):<24} {pw}")


@user_app.command("remove")
def user_remove(name: str, data_dir: DataDir = None) -> None:
    """Remove a user and end its sessions."""
    with _store(data_dir) as store:
        if not store.remove_user(name):
            raise _fail(f"no user {name!r}")
        store.audit("cli", "user.remove", name, "ok")
    typer.echo(f"removed {name}")


@token_app.command("create")
def token_create(
    role: RoleOpt = Role.VIEWER,
    tenant: Tenants = ["acme"],  # noqa: B006 - typer's default
    label: Annotated[str, typer.Option(help="what it is for (shown by token list)")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create an API token; the token is the last word printed, shown only this once."""
    with _store(data_dir) as store:
        try:
            info, secret = store.create_token(role, tenant, label=label)
        except ValueError as exc:
            raise _fail(str(exc)) from exc
        store.audit("cli", "token.create", info.id, "ok", detail=f"role={role.value}")
    scope = ",".join(sorted(info.tenants))
    print(f"token {info.id} ({info.role.value} of {scope}); keep it, it is not shown again:")
    print(secret)
    sys.stdout.flush()


@token_app.command("list")
def token_list(
    all_: Annotated[bool, typer.Option("--all", help="revoked ones too")] = False,
    data_dir: DataDir = None,
) -> None:
    """List tokens (id, kind, role, tenants, created); never their secrets."""
    with _store(data_dir) as store:
        tokens = store.tokens(include_revoked=all_)
    if not tokens:
        typer.echo("no tokens")
    for t in tokens:
        state = f"revoked {_when(t.revoked)}" if t.revoked else "active"
        typer.echo(
            f"{t.id}  {t.kind.value:<5} {t.role.value:<9} {','.join(sorted(t.tenants)):<16}"
            f" {_when(t.created)}  {state}  {t.label}"
        )


@token_app.command("revoke")
def token_revoke(token_id: str, data_dir: DataDir = None) -> None:
    """Revoke a token by its id (effective within 5 s on every running cloud worker)."""
    with _store(data_dir) as store:
        if not store.revoke_token(token_id):
            raise _fail(f"no active token {token_id!r} (edgetwin token list shows them)")
        store.audit("cli", "token.revoke", token_id, "ok")
    typer.echo(f"revoked {token_id}")

"""`xae users`, `users:create`, `users:remove`: the platform's accounts, for platform admins.

A user logs in with an e-mail address. `users:create` lets the API generate the password and
prints it exactly once (xae keeps only its hash), or sends one read from stdin
(`--password-stdin`), so it never sits in the shell's history or the process list. Removing a
user asks for the address again (`--confirm`), as `apps:destroy` does for an app's name.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from xae.cli import output
from xae.cli.client import api
from xae.cli.errors import CLIError, usage_error
from xae.cli.options import JsonOption, user_name

EmailArgument = Annotated[str, typer.Argument(metavar="EMAIL", help="The user's e-mail address.")]

PASSWORD_MIN = 8
PASSWORD_MAX = 1024


def list_users(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the platform's users (platform admins only)."""
    users: list[dict[str, Any]] = api(ctx).get_all("/v1/users")
    if as_json:
        output.print_json(users)
        return
    table = output.table("user", "admin", "created")
    for user in users:
        table.add_row(
            str(user.get("name")),
            output.text(bool(user.get("is_admin"))),
            output.when(user.get("created_at")),
        )
    output.show(table)


def _password_from_stdin() -> str:
    # One line, as `docker login --password-stdin` reads it; the newline is not part of it.
    password = sys.stdin.readline().rstrip("\r\n")
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise usage_error(
            f"the password on stdin must be {PASSWORD_MIN} to {PASSWORD_MAX} characters "
            f"(got {len(password)}); leave out --password-stdin to have one generated"
        )
    return password


def create(
    ctx: typer.Context,
    email: EmailArgument,
    admin: Annotated[
        bool, typer.Option("--admin", help="A platform admin: sees and manages everything.")
    ] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from stdin instead of generating one."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a user; a generated password is printed once."""
    name = user_name(email)
    body: dict[str, Any] = {"name": name, "admin": admin}
    if password_stdin:
        body["password"] = _password_from_stdin()
    user: dict[str, Any] = api(ctx).post("/v1/users", body)
    if as_json:
        output.print_json(user)
        return
    kind = "admin" if user.get("is_admin") else "user"
    output.success(f"created {kind} {user.get('name')}")
    password = user.get("password")
    if isinstance(password, str) and password:
        output.plain(f"password for {name!r}: {password}")
        output.plain(
            "it is shown only now (xae keeps only its hash): hand it to them safely. If it is "
            f"lost, an operator runs `xae-admin reset-password {name}` on the xae host, or "
            f"you remove and re-create the user",
            style="yellow",
        )
    output.plain(f"add them to a team: xae teams:members:add {name} --team TEAM --role developer")


def remove(
    ctx: typer.Context,
    email: EmailArgument,
    confirm: Annotated[
        str | None,
        typer.Option("--confirm", help="The address again, to confirm; needed without a TTY."),
    ] = None,
) -> None:
    """Remove a user, their tokens and team memberships. Irreversible."""
    name = user_name(email)
    if confirm is None:
        if not sys.stdin.isatty():
            raise usage_error(f"removing {name} is irreversible: pass --confirm {name}")
        confirm = str(typer.prompt(f"this removes {name} and their tokens; type the address"))
    if confirm != name:
        raise CLIError(
            f"confirmation {confirm!r} does not match {name!r}; nothing was removed",
            code="confirmation_mismatch",
        )
    api(ctx).delete(f"/v1/users/{name}")
    output.success(f"removed {name}")

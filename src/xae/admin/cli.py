"""`xae-admin`: operating the control plane on its own machine (not a client of the API).

`start` runs the server in the background and waits until it answers; `stop` stops it and the
router (app containers keep running and are picked up again by the next `start`); `bootstrap`
creates the admin user once and logs the local CLI in; `create-user` and `reset-password` manage
accounts; `rotate-key` seals every config var with a new key. A generated password is printed
once and stored only as a hash: nothing on disk holds it, so losing it means `reset-password`,
never reading a file.

Every command runs with umask 077 and first makes the state dir private (`xae.api.statedir`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from xae.api.statedir import restrict_umask, secure_state_dir
from xae.auth.tokens import create_user, issue_token, revoke_tokens, set_password, token_row
from xae.clientconfig import BadClientConfig, ClientConfig, load_stored, save
from xae.config import Settings, get_settings
from xae.control.configvars import rotate_key
from xae.control.teams import ensure_default_team
from xae.control.users import new_password
from xae.errors import Unauthorized, XaeError
from xae.router.nginx import NginxRouter
from xae.store.db import Database
from xae.store.models import User
from xae.store.sealed import Vault, key_file

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _pid_file(settings: Settings) -> Path:
    return settings.state_dir / "xae.pid"


def _running_pid(settings: Settings) -> int | None:
    try:
        pid = int(_pid_file(settings).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return None
    return pid if b"xae" in cmdline and b"serve" in cmdline else None


def _private_state_dir(settings: Settings) -> None:
    for notice in secure_state_dir(settings):
        typer.secho(f"note: {notice}", fg="yellow", err=True)


def _show_password(username: str, password: str) -> None:
    """The one time a password is shown: on stdout, with what to do if it is lost."""
    typer.echo(f"password for {username!r}: {password}")
    typer.echo(
        "it is shown only this once and stored only as a hash: keep it now "
        f"(`xae-admin reset-password {username}` makes a new one)"
    )


def _healthy(settings: Settings) -> bool:
    try:
        return httpx.get(f"{settings.api_url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@cli.command()
def serve() -> None:
    """Run the control plane in the foreground."""
    from xae.api.server import serve as run

    settings = get_settings()
    _private_state_dir(settings)
    _pid_file(settings).write_text(str(os.getpid()))
    try:
        run(settings)
    except XaeError as e:
        typer.secho(f"error: {e.message}", fg="red", err=True)
        raise typer.Exit(1) from e


@cli.command()
def start(timeout: float = 60.0) -> None:
    """Start the control plane in the background (no-op if it already runs)."""
    settings = get_settings()
    _private_state_dir(settings)
    if _running_pid(settings) and _healthy(settings):
        typer.echo(f"xae is running at {settings.api_url}")
        return
    logs = settings.state_dir / "logs"
    logs.mkdir(mode=0o700, exist_ok=True)
    with open(logs / "xae.log", "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "xae.admin", "serve"],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _healthy(settings):
            typer.echo(f"xae is running at {settings.api_url} (pid {proc.pid})")
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    tail = (logs / "xae.log").read_text(errors="replace").splitlines()[-15:]
    code = proc.poll()
    if code is None:
        how = f"still not answering after {timeout:.0f} s (pid {proc.pid} runs on)"
    elif code < 0:
        how = f"killed by {signal.Signals(-code).name}"
    else:
        how = f"exited with status {code}"
    typer.secho(f"xae did not start ({how}); the end of its log:", fg="red", err=True)
    typer.echo("\n".join(tail), err=True)
    raise typer.Exit(1)


@cli.command()
def stop(keep_router: bool = False) -> None:
    """Stop the control plane and the router; app containers keep running."""
    settings = get_settings()
    pid = _running_pid(settings)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
    _pid_file(settings).unlink(missing_ok=True)
    if not keep_router:
        NginxRouter(settings).stop()
    typer.echo("xae stopped")


def _vault(settings: Settings) -> Vault:
    return Vault.at(key_file(settings.state_dir), create=True)


def _database(settings: Settings, vault: Vault | None = None) -> Database:
    _private_state_dir(settings)
    db = Database(settings.db_url)
    db.migrate(vault or _vault(settings))
    return db


@cli.command()
def bootstrap(username: str = "admin") -> None:
    """Create the admin user once (its password is printed, once) and log this machine's CLI
    in as that user."""
    settings = get_settings()
    db = _database(settings)
    with db.session() as session:
        user = session.scalar(select(User).where(User.name == username))
        if user is None:
            password = new_password()
            user = create_user(session, username, password, is_admin=True)
            typer.echo(f"created the admin user {username!r}")
            _show_password(username, password)
        team = ensure_default_team(session, user)
        if team is not None:
            typer.echo(f"created the team {team!r}, owned by {username!r}, for your apps")
        try:
            stored = load_stored()
        except BadClientConfig as e:
            typer.secho(f"error: {e.message}", fg="red", err=True)
            raise typer.Exit(1) from e
        if stored.api_url == settings.api_url and _still_valid(session, stored.token, user):
            typer.echo(f"the CLI is already logged in as {username!r}")
            return
        issued = issue_token(session, user, timedelta(days=settings.token_ttl_days))
    path = save(ClientConfig(api_url=settings.api_url, token=issued.token))
    typer.echo(f"logged the CLI in as {username!r} ({path})")


@cli.command("create-user")
def create_user_command(
    username: str, admin: bool = typer.Option(False, "--admin", help="make the user an admin")
) -> None:
    """Create a user with a generated password, printed once."""
    db = _database(get_settings())
    password = new_password()
    try:
        with db.session() as session:
            create_user(session, username, password, is_admin=admin)
    except XaeError as e:
        typer.secho(f"error: {e.message}", fg="red", err=True)
        raise typer.Exit(1) from e
    typer.echo(f"created the {'admin ' if admin else ''}user {username!r}")
    _show_password(username, password)


@cli.command("reset-password")
def reset_password(username: str = typer.Argument("admin")) -> None:
    """Give a user a new generated password (printed once) and revoke all of its tokens."""
    db = _database(get_settings())
    password = new_password()
    try:
        with db.session() as session:
            user = set_password(session, username, password)
            revoked = revoke_tokens(session, user)
    except XaeError as e:
        typer.secho(f"error: {e.message}", fg="red", err=True)
        raise typer.Exit(1) from e
    typer.echo(
        f"the old password of {username!r} no longer works and its {revoked} token(s) are "
        "revoked: log in again with `xae login` (or `xae-admin bootstrap` on this machine)"
    )
    _show_password(username, password)


@cli.command("rotate-key")
def rotate_key_command() -> None:
    """Seal all config vars with a new key and retire the old one (the control plane may run;
    it follows the key file). Back up the state dir afterwards: old backups need the old key."""
    settings = get_settings()
    _private_state_dir(settings)
    try:
        vault = _vault(settings)
        db = _database(settings, vault)
        done = rotate_key(db, vault, actor="xae-admin")
    except XaeError as e:
        typer.secho(f"error: {e.message}", fg="red", err=True)
        raise typer.Exit(1) from e
    typer.echo(
        f"sealed the config of {done.apps} app(s) and {done.releases} release(s) and "
        f"{done.certificates} certificate key(s) with a new key; the old key is gone from "
        f"{vault.path}"
    )


def _still_valid(session: Session, token: str | None, user: User) -> bool:
    """Whether `token` is `user`'s and good for at least another day (so re-runs add none)."""
    if token is None:
        return False
    try:
        row = token_row(session, token, valid_for=timedelta(days=1))
    except Unauthorized:
        return False
    return row.user_id == user.id


def main() -> None:
    restrict_umask()
    cli()

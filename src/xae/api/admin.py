"""`xae-admin`: operating the control plane on its own machine (not a client of the API).

`start` runs the server in the background and waits until it answers; `stop` stops it and the
router (app containers keep running and are picked up again by the next `start`); `bootstrap`
creates the admin user once and logs the local CLI in.
"""

from __future__ import annotations

import os
import secrets
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

from xae.auth.tokens import authenticate, create_user, issue_token
from xae.cli.config import ClientConfig, load_stored, save
from xae.config import Settings, get_settings
from xae.errors import Unauthorized, XaeError
from xae.router.nginx import NginxRouter
from xae.store.db import Database
from xae.store.models import User

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
    _pid_file(settings).parent.mkdir(parents=True, exist_ok=True)
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
    if _running_pid(settings) and _healthy(settings):
        typer.echo(f"xae is running at {settings.api_url}")
        return
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "xae.log", "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "xae.api.admin", "serve"],
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
    typer.secho("xae did not start; the end of its log:", fg="red", err=True)
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


@cli.command()
def bootstrap(username: str = "admin") -> None:
    """Create the admin user once and log this machine's CLI in as that user."""
    settings = get_settings()
    db = Database(settings.db_url)
    db.migrate()
    secret_file = settings.state_dir / "admin-password"
    with db.session() as session:
        user = session.scalar(select(User).where(User.name == username))
        if user is None:
            password = secrets.token_urlsafe(18)
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(password + "\n")
            user = create_user(session, username, password, is_admin=True)
            typer.echo(f"created user {username!r}; its password is in {secret_file}")
        stored = load_stored()
        if stored.api_url == settings.api_url and _still_valid(session, stored.token, user):
            typer.echo(f"the CLI is already logged in as {username!r}")
            return
        issued = issue_token(session, user, timedelta(days=settings.token_ttl_days))
    path = save(ClientConfig(api_url=settings.api_url, token=issued.token))
    typer.echo(f"logged the CLI in as {username!r} ({path})")


def _still_valid(session: Session, token: str | None, user: User) -> bool:
    """Whether `token` is `user`'s and good for at least another day (so re-runs add none)."""
    if token is None:
        return False
    try:
        owner = authenticate(session, token, valid_for=timedelta(days=1))
    except Unauthorized:
        return False
    return owner.id == user.id


def main() -> None:
    cli()


if __name__ == "__main__":
    main()

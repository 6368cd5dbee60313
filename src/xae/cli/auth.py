"""`xae login`, `logout`, `whoami`: getting a token and keeping it in the client config.

The password is only ever sent to `POST /v1/auth/tokens`; it is never stored, echoed or put into
an error message. Only the token it buys is saved (mode 0600, see `xae.cli.config`).
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from xae.cli import config, output
from xae.cli.client import api, session
from xae.cli.errors import CLIError
from xae.cli.options import JsonOption


def login(
    ctx: typer.Context,
    api_url: Annotated[
        str | None, typer.Option("--api-url", help="Base URL of the xae API.")
    ] = None,
    username: Annotated[
        str | None,
        typer.Option(
            "--email", "--username", "-u", help="Your e-mail address (or a plain name: admin)."
        ),
    ] = None,
    password: Annotated[
        str | None, typer.Option("--password", "-p", help="Prompted (hidden) when omitted.")
    ] = None,
) -> None:
    """Log in to an xae API and store the token in ~/.config/xae/config.json."""
    url = (api_url or config.load().api_url).rstrip("/")
    if username is None:
        username = str(typer.prompt("Email")).strip()
    if password is None:
        password = str(typer.prompt("Password", hide_input=True))
    client = session(ctx).client(api_url=url, authenticated=False)
    try:
        result: Any = client.post("/v1/auth/tokens", {"username": username, "password": password})
    except CLIError as e:
        if e.status == 401:
            raise CLIError(
                f"login failed: {e.api_message or 'wrong e-mail address or password'}",
                code=e.code,
            ) from e
        raise
    finally:
        client.close()
    token = result.get("token") if isinstance(result, dict) else None
    if not isinstance(token, str) or not token:
        raise CLIError("the API did not return a token", code="bad_response")
    path = config.save(config.ClientConfig(api_url=url, token=token))
    expires = output.when(result.get("expires_at"))
    output.success(f"logged in as {username} at {url} (token saved to {path}, expires {expires})")
    if os.environ.get("XAE_TOKEN"):
        output.plain("note: XAE_TOKEN is set and overrides the saved token", style="yellow")


def logout() -> None:
    """Forget the stored token (the API address is kept)."""
    stored = config.load_stored()
    if stored.token is None:
        output.plain("not logged in")
    else:
        config.save(config.ClientConfig(api_url=stored.api_url, token=None))
        output.success("logged out")
    if os.environ.get("XAE_TOKEN"):
        output.plain("note: XAE_TOKEN is still set in your environment", style="yellow")


def whoami(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show who you are: your teams and roles, and what the token in use may do."""
    user: dict[str, Any] = api(ctx).get("/v1/auth/whoami")
    if as_json:
        output.print_json(user)
        return
    token = user.get("token")
    teams = user.get("teams") or []
    rows: list[tuple[str, Any]] = [
        ("user", user.get("username")),
        ("admin", bool(user.get("is_admin"))),
        ("teams", ", ".join(f"{t.get('team')} ({t.get('role')})" for t in teams) or None),
    ]
    if isinstance(token, dict):
        rows += [
            ("token", token.get("name") or "(a login token)"),
            ("scope", token.get("scope")),
            ("app", token.get("app") or "any app of your teams"),
            ("expires", output.when(token.get("expires_at"))),
        ]
    output.key_values(rows)

"""`xae tokens`, `tokens:create`, `tokens:revoke`: your own named API tokens, for scripts and CI.

A token has a scope (`read`, `deploy`, `admin`) that bounds what it may do on top of your
roles, may be limited to one app, and expires. Its secret is printed once, by `tokens:create`;
xae keeps only a hash, and no listing shows it again. The CLI reads a token from `XAE_TOKEN`
before the saved login (`xae.cli.config`), which is how CI uses one.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from xae.cli import output
from xae.cli.client import api
from xae.cli.options import JsonOption, app_name
from xae.domain.access import Scope


def list_tokens(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List your tokens (never their secrets); `*` marks the one in use."""
    tokens: list[dict[str, Any]] = api(ctx).get_all("/v1/tokens")
    if as_json:
        output.print_json(tokens)
        return
    if not tokens:
        output.plain("no tokens: make one for CI with `xae tokens:create NAME --scope deploy`")
        return
    table = output.table("", "id", "name", "scope", "app", "created", "expires", "last used")
    for token in tokens:
        current = bool(token.get("current"))
        table.add_row(
            Text("*", style="bold green") if current else Text(""),
            Text(output.text(token.get("id"))),
            Text(output.text(token.get("name"))),
            Text(output.text(token.get("scope"))),
            Text(output.text(token.get("app"))),
            Text(output.when(token.get("created_at"))),
            Text(output.when(token.get("expires_at"))),
            Text(output.when(token.get("last_used_at"))),
        )
    output.show(table)


def create(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="What it is for, e.g. ci-shop: letters, digits, . _ -")
    ],
    scope: Annotated[
        Scope, typer.Option("--scope", "-s", help="read, deploy or admin.")
    ] = Scope.DEPLOY,
    app: Annotated[
        str | None,
        typer.Option("--app", "-a", help="Limit the token to this one app.", show_default=False),
    ] = None,
    expires_in_days: Annotated[
        int, typer.Option("--expires-in-days", help="1 to 366.", min=1, max=366)
    ] = 30,
    as_json: JsonOption = False,
) -> None:
    """Create a token; its secret is printed once."""
    body: dict[str, Any] = {
        "name": name,
        "scope": scope.value,
        "app": app_name(app) if app is not None else None,
        "expires_in_days": expires_in_days,
    }
    client = api(ctx)
    issued: dict[str, Any] = client.post("/v1/tokens", body)
    if as_json:
        output.print_json(issued)
        return
    limit = f", app {issued.get('app')}" if issued.get("app") else ""
    output.success(
        f"created token {issued.get('name')} (id {issued.get('id')}, scope "
        f"{issued.get('scope')}{limit}, expires {output.when(issued.get('expires_at'))})"
    )
    output.plain(str(issued.get("token")))
    output.plain(
        "it is shown only now: store it as a secret (e.g. your CI's XAE_TOKEN secret), never "
        "in the repository",
        style="yellow",
    )
    target = f" --app {issued.get('app')}" if issued.get("app") else " --app APP"
    output.plain(f"use it: XAE_TOKEN=<the token> XAE_API_URL={client.api_url} xae deploy .{target}")
    output.plain(f"revoke it: xae tokens:revoke {issued.get('id')}")


def revoke(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(metavar="ID", help="From `xae tokens`.", min=1)],
) -> None:
    """Revoke one of your tokens: it is refused from now on."""
    api(ctx).delete(f"/v1/tokens/{token_id}")
    output.success(f"revoked token {token_id}")

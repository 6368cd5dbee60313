"""`xae audit`: who did what, to what, from where, with which result (newest first).

Team owners read their teams' trail, platform admins everyone's. Unlike the other listings
this shows one page (`--limit`, default 50): an audit trail only grows, and the recent events
are the ones asked about; `--since`, `--app` and `--user` narrow it. Every field is text that
callers put there (a target name, details), so it is printed without markup or terminal escapes.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.text import Text

from xae.cli import output
from xae.cli.client import api
from xae.cli.errors import usage_error
from xae.cli.options import JsonOption, app_name, user_name
from xae.domain.terminal import strip_escapes

DETAILS_WIDTH = 60
_SINCE_UNITS = ("m", "h", "d")


def _since(value: str) -> str:
    if value[-1:] not in _SINCE_UNITS or not value[:-1].isdigit():
        raise usage_error(f"--since {value!r} is not a duration: write it like 30m, 12h or 7d")
    return value


def _who(event: dict[str, Any]) -> str:
    actor = output.text(event.get("actor"))
    token = event.get("token_name")
    return f"{actor} ({token})" if token else actor


def _details(details: Any) -> str:
    if not details:
        return "-"
    if isinstance(details, dict):
        text = ", ".join(
            f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in details.items()
        )
    else:
        text = json.dumps(details)
    return text if len(text) <= DETAILS_WIDTH else text[: DETAILS_WIDTH - 1] + "…"


def _cell(value: str, style: str = "") -> Text:
    return Text(strip_escapes(value), style=style)


def audit(
    ctx: typer.Context,
    app: Annotated[
        str | None, typer.Option("--app", "-a", help="Only events of this app.", show_default=False)
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", "-u", help="Only events by this user.", show_default=False),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="e.g. 30m, 12h, 7d.", show_default=False)
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="At most this many.", min=1, max=500)
    ] = 50,
    as_json: JsonOption = False,
) -> None:
    """Show the audit trail, newest first (team owners and admins)."""
    params: dict[str, str | int | None] = {
        "app": app_name(app) if app is not None else None,
        "user": user_name(user) if user is not None else None,
        "since": _since(since) if since is not None else None,
        "limit": limit,
    }
    events, more = api(ctx).get_page("/v1/audit", params=params)
    if as_json:
        output.print_json(events)
        return
    if not events:
        output.plain("no events match")
        return
    table = output.table("when", "who", "from", "action", "target", "result", "details")
    for event in events:
        result = output.text(event.get("result"))
        table.add_row(
            _cell(output.when(event.get("at"))),
            _cell(_who(event)),
            _cell(output.text(event.get("source"))),
            _cell(output.text(event.get("action"))),
            _cell(output.text(event.get("target"))),
            _cell(result, "green" if result == "ok" else "red"),
            _cell(_details(event.get("details"))),
        )
    output.show(table)
    if more:
        output.plain(
            f"showing the newest {len(events)}: narrow with --since/--app/--user, or raise "
            "--limit (at most 500)",
            style="dim",
        )

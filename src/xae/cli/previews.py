"""`xae previews`, `previews:on` and `previews:off`: an app's preview apps, one per branch.

With previews on, a push of a branch other than the deploy branch makes (or updates) the app
`APP--BRANCH` with its own URL; deleting the branch, or leaving it idle longer than `--idle`,
destroys it. The idle time is checked locally with the rules the API applies.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from xae.cli import output
from xae.cli.client import api
from xae.cli.errors import usage_error
from xae.cli.options import AppOption, JsonOption, require_app
from xae.domain.previews import format_idle, parse_idle

IdleOption = Annotated[
    str | None,
    typer.Option(
        "--idle", help="Destroy a preview after this long without a push (3d, 12h, 30m; 3d)."
    ),
]


def previews(ctx: typer.Context, app: AppOption = None, as_json: JsonOption = False) -> None:
    """List the app's preview apps and whether previews are on."""
    target = require_app(app)
    info: dict[str, Any] = api(ctx).get(f"/v1/apps/{target}/previews")
    if as_json:
        output.print_json(info)
        return
    _show(target, info)


def on(
    ctx: typer.Context, app: AppOption = None, idle: IdleOption = None, as_json: JsonOption = False
) -> None:
    """Turn preview apps on: each pushed branch gets its own app (APP--BRANCH)."""
    target = require_app(app)
    try:
        seconds = parse_idle(idle) if idle is not None else None
    except Exception as e:  # `xae.domain.previews` raises only `InvalidInput`
        raise usage_error(str(e)) from e
    info: dict[str, Any] = api(ctx).patch(
        f"/v1/apps/{target}/previews", {"enabled": True, "idle_seconds": seconds}
    )
    if as_json:
        output.print_json(info)
        return
    output.success(
        f"previews are on for {target}: idle ones go after {_idle(info.get('idle_seconds'))}"
    )


def off(ctx: typer.Context, app: AppOption = None, as_json: JsonOption = False) -> None:
    """Turn preview apps off; the existing ones are destroyed within a minute."""
    target = require_app(app)
    info: dict[str, Any] = api(ctx).patch(f"/v1/apps/{target}/previews", {"enabled": False})
    if as_json:
        output.print_json(info)
        return
    output.success(f"previews are off for {target}: its preview apps are being destroyed")


def _idle(seconds: Any) -> str:
    return format_idle(seconds) if isinstance(seconds, int) else "-"


def _show(target: str, info: dict[str, Any]) -> None:
    if not info.get("enabled"):
        output.plain(f"previews are off for {target} (`xae previews:on --app {target}`)")
    else:
        output.plain(f"previews are on for {target}; idle time {_idle(info.get('idle_seconds'))}")
    rows: list[dict[str, Any]] = info.get("previews") or []
    if rows:
        columns = {
            "branch": output.field("branch"),
            "app": output.field("app"),
            "url": output.field("url"),
            "last push": output.field_when("last_push_at"),
        }
        output.rows_table(rows, columns)

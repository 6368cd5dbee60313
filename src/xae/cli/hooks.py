"""`xae hooks`, `hooks:add`, `hooks:remove`, `hooks:deliveries`: deploy notifications.

A hook receives a signed JSON event (`X-Xae-Signature: sha256=<HMAC-SHA256 of the body>`) when
a build or a deploy of the app succeeds or fails. Its secret is printed once, by `hooks:add`;
the server keeps it sealed and never shows it again.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from xae.cli import output
from xae.cli.client import api
from xae.cli.options import AppOption, JsonOption, require_app


def list_hooks(ctx: typer.Context, app: AppOption = None, as_json: JsonOption = False) -> None:
    """List the app's hooks (never their secrets)."""
    target = require_app(app)
    output.listing(
        api(ctx).get(f"/v1/apps/{target}/hooks"),
        {
            "id": output.field("id"),
            "url": output.field("url"),
            "events": lambda hook: ",".join(str(e) for e in hook.get("events") or []),
            "by": output.field("created_by"),
            "created": output.field_when("created_at"),
        },
        as_json=as_json,
        empty=f"{target} has no hooks: add one with `xae hooks:add URL --app {target}`",
    )


def add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(metavar="URL", help="http:// or https:// receiver.")],
    events: Annotated[
        str, typer.Option("--events", help="Comma-separated: build, deploy.")
    ] = "build,deploy",
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send the app's build and deploy events to URL, signed with a new secret (shown once)."""
    target = require_app(app)
    body = {"url": url, "events": [e.strip() for e in events.split(",") if e.strip()]}
    added: dict[str, Any] = api(ctx).post(f"/v1/apps/{target}/hooks", body)
    if as_json:
        output.print_json(added)
        return
    hook = added.get("hook") or {}
    output.success(
        f"added hook {hook.get('id')} to {target}: "
        f"{','.join(str(e) for e in hook.get('events') or [])} events go to {hook.get('url')}"
    )
    output.plain(f"secret: {added.get('secret')}")
    output.plain(
        "keep it: it is shown only now. Each event carries X-Xae-Signature: sha256=<hex "
        "HMAC-SHA256 of the body with this secret>; check it before trusting the event."
    )


def remove(
    ctx: typer.Context,
    hook_id: Annotated[int, typer.Argument(metavar="ID", help="From `xae hooks`.", min=1)],
    app: AppOption = None,
) -> None:
    """Remove a hook (its delivery log goes with it)."""
    target = require_app(app)
    api(ctx).delete(f"/v1/apps/{target}/hooks/{hook_id}")
    output.success(f"removed hook {hook_id} from {target}")


def deliveries(
    ctx: typer.Context,
    hook: Annotated[int | None, typer.Option("--hook", help="One hook's only.", min=1)] = None,
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """The newest delivery attempts: event, attempt, status code, time, error."""
    target = require_app(app)
    params: dict[str, Any] = {"hook": hook} if hook else {}
    output.listing(
        api(ctx).get(f"/v1/apps/{target}/hooks/deliveries", params=params),
        {
            "hook": output.field("hook"),
            "event": output.field("event"),
            "attempt": output.field("attempt"),
            "status": _status_code,
            "at": output.field_when("at"),
            "error": output.field("error"),
        },
        as_json=as_json,
        empty=f"no deliveries for {target} yet",
    )


def _status_code(delivery: dict[str, Any]) -> Text:
    code = delivery.get("status_code")
    return Text(str(code) if code else "-", style="green" if delivery.get("ok") else "red")

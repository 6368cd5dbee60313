"""`xae apps`, `apps:create`, `apps:info`, `apps:destroy`, `apps:update`, `apps:transfer`.

Every app belongs to one team; `apps:create --team` picks it (left out, the API takes the
caller's only team, and says which to choose when there are several), `apps:transfer` moves it.

Destroying is the one irreversible verb, so it asks for the app's name again (`--confirm`,
or a prompt on a terminal) and refuses locally on a mismatch before any request is sent;
the API checks the same `confirm` parameter again.
"""

from __future__ import annotations

import re
import sys
from typing import Annotated, Any

import typer

from xae.cli import output
from xae.cli.client import api
from xae.cli.errors import CLIError, usage_error
from xae.cli.options import AppOption, JsonOption, TeamOption, app_name, require_app, team_name
from xae.cli.ps import render_formation, render_instances

NameArgument = Annotated[
    str | None, typer.Argument(help="The app's name (or use --app).", show_default=False)
]


def _pick(name: str | None, app: str | None) -> str:
    return app_name(name) if name else require_app(app)


def list_apps(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the apps of your teams."""
    apps: list[dict[str, Any]] = api(ctx).get_all("/v1/apps")
    if as_json:
        output.print_json(apps)
        return
    if not apps:
        output.plain("no apps yet: create one with `xae apps:create NAME`")
        return
    table = output.table("name", "team", "release", "url", "created")
    for app in apps:
        table.add_row(
            str(app.get("name")),
            output.text(app.get("team")),
            output.version(app.get("release")),
            output.text(app.get("url")),
            output.when(app.get("created_at")),
        )
    output.show(table)


def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A DNS label: lowercase letters, digits, dashes.")],
    team: TeamOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an app in a team (by default your only team)."""
    app: dict[str, Any] = api(ctx).post(
        "/v1/apps",
        {"name": app_name(name)},
        params={"team": team_name(team) if team is not None else None},
    )
    if as_json:
        output.print_json(app)
        return
    output.success(
        f"created {app.get('name')} in team {app.get('team')}, to be served at {app.get('url')}"
    )
    output.plain(f"deploy it with: xae deploy . --app {app.get('name')}")


def info(
    ctx: typer.Context,
    name: NameArgument = None,
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show an app: its release, URL, domains, health check, route settings, formation and
    instances."""
    data: dict[str, Any] = api(ctx).get(f"/v1/apps/{_pick(name, app)}")
    if as_json:
        output.print_json(data)
        return
    render_app(data)


def render_app(data: dict[str, Any]) -> None:
    health = data.get("health") or {}
    rows: list[tuple[str, Any]] = [
        ("name", data.get("name")),
        ("url", data.get("url")),
        ("team", data.get("team")),
        ("release", output.version(data.get("release"))),
        ("created", output.when(data.get("created_at"))),
        (
            "health",
            f"GET {health.get('path', '/')} timeout {health.get('timeout')}s, "
            f"{health.get('attempts')} attempts, drain {health.get('drain_seconds')}s"
            if health
            else None,
        ),
    ]
    if "domains" in data:
        rows.append(("domains", ", ".join(data.get("domains") or []) or "none"))
    routing = data.get("routing")
    if isinstance(routing, dict):
        timeout = routing.get("read_timeout")
        rows += [
            ("redirect https", "yes" if routing.get("redirect_https") else "no"),
            ("max body", _size(routing.get("max_body"))),
            ("read timeout", f"{timeout}s" if timeout else "default"),
            ("scale from zero", "yes" if routing.get("scale_from_zero") else "no"),
        ]
    if "dockerfile" in data:
        rows.append(("dockerfile", data.get("dockerfile") or "detected"))
    output.key_values(rows)
    if "formation" in data:
        output.plain("")
        render_formation(data.get("formation") or [])
    if "instances" in data:
        output.plain("")
        render_instances(data.get("instances") or [])


def destroy(
    ctx: typer.Context,
    name: NameArgument = None,
    app: AppOption = None,
    confirm: Annotated[
        str | None,
        typer.Option("--confirm", help="The app's name again, to confirm; needed without a TTY."),
    ] = None,
) -> None:
    """Destroy an app, its releases, config and running instances. Irreversible."""
    target = _pick(name, app)
    if confirm is None:
        if not sys.stdin.isatty():
            raise usage_error(f"destroying {target} is irreversible: pass --confirm {target}")
        confirm = str(typer.prompt(f"this destroys {target} and everything in it; type its name"))
    if confirm != target:
        raise CLIError(
            f"confirmation {confirm!r} does not match {target!r}; nothing was destroyed",
            code="confirmation_mismatch",
        )
    api(ctx).delete(f"/v1/apps/{target}", params={"confirm": confirm})
    output.success(f"destroyed {target}")


def update(
    ctx: typer.Context,
    app: AppOption = None,
    health_path: Annotated[
        str | None, typer.Option("--health-path", help="Path the health check GETs, e.g. /up.")
    ] = None,
    health_timeout: Annotated[
        float | None, typer.Option("--health-timeout", help="Seconds per health request.", min=0)
    ] = None,
    health_attempts: Annotated[
        int | None, typer.Option("--health-attempts", help="Checks before giving up.", min=1)
    ] = None,
    drain_seconds: Annotated[
        float | None,
        typer.Option("--drain-seconds", help="Grace after SIGTERM before SIGKILL.", min=0),
    ] = None,
    redirect_https: Annotated[
        bool | None,
        typer.Option("--redirect-https/--no-redirect-https", help="Redirect plain HTTP to HTTPS."),
    ] = None,
    max_body: Annotated[
        str | None,
        typer.Option(
            "--max-body", help="Largest request body, e.g. 50M (at most 1G), or 'default'."
        ),
    ] = None,
    read_timeout: Annotated[
        int | None,
        typer.Option(
            "--read-timeout",
            help="Seconds to wait for the app's response (1-3600), 0 for the default.",
            min=0,
            max=3600,
        ),
    ] = None,
    scale_from_zero: Annotated[
        bool | None,
        typer.Option(
            "--scale-from-zero/--no-scale-from-zero",
            help="With no instance running, hold requests and wake the app.",
        ),
    ] = None,
    dockerfile: Annotated[
        str | None,
        typer.Option(
            "--dockerfile",
            help="Build with this Dockerfile, relative to the source's top (e.g. "
            "deploy/Dockerfile); '' goes back to detection.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Change an app's health check, drain, route settings and Dockerfile."""
    target = require_app(app)
    changes: dict[str, Any] = {
        key: value
        for key, value in (
            ("health_path", health_path),
            ("health_timeout", health_timeout),
            ("health_attempts", health_attempts),
            ("drain_seconds", drain_seconds),
            ("redirect_https", redirect_https),
            ("scale_from_zero", scale_from_zero),
            ("dockerfile", dockerfile),
        )
        if value is not None
    }
    if max_body is not None:
        changes["max_body"] = parse_size(max_body)
    if read_timeout is not None:
        changes["read_timeout"] = read_timeout or None
    if not changes:
        raise usage_error(
            "nothing to change: pass --health-path, --health-timeout, --health-attempts, "
            "--drain-seconds, --redirect-https, --max-body, --read-timeout, --scale-from-zero "
            "or --dockerfile"
        )
    if health_path is not None and not health_path.startswith("/"):
        raise usage_error(f"--health-path must start with '/', got {health_path!r}")
    data: dict[str, Any] = api(ctx).patch(f"/v1/apps/{target}", changes)
    if as_json:
        output.print_json(data)
        return
    output.success(f"updated {target}")
    render_app(data)


_SIZE = re.compile(r"(\d{1,13})\s*([KMG]?)(?:i?B)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
MAX_BODY = 1024**3


def parse_size(text: str) -> int | None:
    """A body size as users write it (`50M`, `512K`, `1G`, bytes) in bytes; `default`: None."""
    if text.strip().lower() == "default":
        return None
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise usage_error(f"--max-body {text[:40]!r} is not a size: write it like 50M, 512K or 1G")
    size = int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]
    if not 1 <= size <= MAX_BODY:
        raise usage_error(f"--max-body {text[:40]!r} is out of range: use between 1 byte and 1G")
    return size


def _size(value: Any) -> str:
    if not isinstance(value, int):
        return "default"
    for unit in ("G", "M", "K"):
        if value % _SIZE_UNITS[unit] == 0:
            return f"{value // _SIZE_UNITS[unit]}{unit}"
    return f"{value} bytes"


def transfer(
    ctx: typer.Context,
    name: NameArgument = None,
    app: AppOption = None,
    team: Annotated[
        str, typer.Option("--team", "-t", help="The team to move the app to.", show_default=False)
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """Move an app to another team (owner of its team, and developer or more in the other)."""
    target = _pick(name, app)
    if not team:
        raise usage_error("to which team? pass --team TEAM (`xae teams` lists yours)")
    moved: dict[str, Any] = api(ctx).post(
        f"/v1/apps/{target}/transfer", params={"team": team_name(team)}
    )
    if as_json:
        output.print_json(moved)
        return
    output.success(f"moved {target} to team {moved.get('team')}")

"""`xae releases`, `releases:info`, `rollback`: the app's numbered, immutable history.

Versions are typed the way they are shown (`v3`) or bare (`3`); both mean the same release.
A rollback never rewrites history: the API makes a new release from an old one, and the
output says both numbers ("rolled back to v2 as v5").
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from rich.text import Text

from xae.cli import output
from xae.cli.client import api
from xae.cli.errors import usage_error
from xae.cli.options import AppOption, JsonOption, require_app
from xae.domain.states import ReleaseStatus

_VERSION = re.compile(r"^[vV]?(\d+)$")
_ROLLBACK_TARGET = re.compile(r"\bv(\d+)\b")

_STATUS_STYLE: dict[str, str] = {
    ReleaseStatus.SUCCEEDED: "green",
    ReleaseStatus.FAILED: "red",
    ReleaseStatus.PENDING: "yellow",
}


def parse_version(text: str) -> int:
    match = _VERSION.match(text.strip())
    if match is None or int(match.group(1)) < 1:
        raise usage_error(f"{text!r} is not a release version: write it like v3 or 3")
    return int(match.group(1))


def _description(release: dict[str, Any]) -> Text:
    text = Text(output.text(release.get("description")))
    commit = release.get("commit")
    if commit and str(commit)[:7] not in text.plain:
        subject = output.text(release.get("commit_message"))
        text.append(f" ({str(commit)[:7]}{': ' + subject if subject else ''})", style="cyan")
    if release.get("failure_reason"):
        text.append(f" ({output.text(release.get('failure_reason'))})", style="red")
    return text


def list_releases(ctx: typer.Context, app: AppOption = None, as_json: JsonOption = False) -> None:
    """List the app's releases, newest first; `*` marks the one being served."""
    target = require_app(app)
    client = api(ctx)
    releases: list[dict[str, Any]] = client.get_all(f"/v1/apps/{target}/releases")
    if as_json:
        output.print_json(releases)
        return
    if not releases:
        output.plain(f"{target} has no releases yet: deploy it with `xae deploy --app {target}`")
        return
    current = client.get(f"/v1/apps/{target}").get("release")
    table = output.table("", "version", "status", "description", "by", "created")
    for release in sorted(releases, key=lambda r: int(r.get("version") or 0), reverse=True):
        status = str(release.get("status"))
        is_current = release.get("version") == current
        table.add_row(
            Text("*", style="bold green") if is_current else Text(""),
            Text(output.version(release.get("version")), style="bold" if is_current else ""),
            Text(status, style=_STATUS_STYLE.get(status, "")),
            _description(release),
            Text(output.text(release.get("created_by"))),
            Text(output.when(release.get("created_at"))),
        )
    output.show(table)


def info(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(metavar="VERSION", help="v3 or 3.")],
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one release: its build, image and config keys."""
    target = require_app(app)
    number = parse_version(version)
    release: dict[str, Any] = api(ctx).get(f"/v1/apps/{target}/releases/{number}")
    if as_json:
        output.print_json(release)
        return
    render_release(release)


def render_release(release: dict[str, Any]) -> None:
    keys = release.get("config_keys") or []
    output.key_values(
        [
            ("version", output.version(release.get("version"))),
            ("status", release.get("status")),
            *([("why", release.get("failure_reason"))] if release.get("failure_reason") else []),
            ("description", release.get("description")),
            ("build", release.get("build_id")),
            *([("commit", release.get("commit"))] if release.get("commit") else []),
            *(
                [("message", release.get("commit_message"))]
                if release.get("commit_message")
                else []
            ),
            ("image", release.get("image")),
            ("created", output.when(release.get("created_at"))),
            ("by", release.get("created_by")),
            ("config keys", ", ".join(str(k) for k in keys) if keys else None),
        ]
    )


def _commit_rows(release: dict[str, Any]) -> list[tuple[str, Any]]:
    """The commit a release was built from (git pushes only)."""
    if not release.get("commit"):
        return []
    return [("commit", release.get("commit")), ("message", release.get("commit_message"))]


def rollback(
    ctx: typer.Context,
    version: Annotated[
        str | None,
        typer.Argument(
            metavar="[VERSION]",
            help="Release to go back to (default: the previous).",
            show_default=False,
        ),
    ] = None,
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a new release from an old one (the previous one by default)."""
    target = require_app(app)
    number = parse_version(version) if version is not None else None
    release: dict[str, Any] = api(ctx).post(f"/v1/apps/{target}/rollback", {"version": number})
    if as_json:
        output.print_json(release)
        return
    new = output.version(release.get("version"))
    if number is None:
        # The API picks "the previous" release; its description names it (e.g. "Rollback to v4").
        match = _ROLLBACK_TARGET.search(str(release.get("description") or ""))
        number = int(match.group(1)) if match else None
    if number is None:
        output.success(f"rolled back {target} as {new}")
    else:
        output.success(f"rolled back {target} to v{number} as {new}")

"""`xae builds`, `builds:info`, `builds:logs`, `builds:cancel`: an app's build history.

A build is listed from the moment its deploy asked for it (`queued`), so a deploy waiting in
the build queue can be seen, and cancelled, from another terminal. The stored log is the
build's own output (builds get no config vars); only the newest builds of an app keep theirs.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from xae.cli import output
from xae.cli.client import api
from xae.cli.options import AppOption, JsonOption, require_app
from xae.domain.states import BuildStatus

STATUS_STYLE: dict[str, str] = {
    BuildStatus.SUCCEEDED: "green",
    BuildStatus.FAILED: "red",
    BuildStatus.TIMED_OUT: "red",
    BuildStatus.CANCELLED: "magenta",
    BuildStatus.RUNNING: "yellow",
    BuildStatus.QUEUED: "yellow",
}

BuildId = Annotated[int, typer.Argument(metavar="ID", help="From `xae builds`.", min=1)]


def source_of(build: dict[str, Any]) -> str:
    """`git 1a2b3c4: message`, `upload`, `image`."""
    commit = build.get("commit")
    if commit:
        subject = output.text(build.get("commit_message"))
        return f"{str(commit)[:7]}: {subject}" if subject else str(commit)[:7]
    return output.text(build.get("source"))


def _duration(value: Any) -> str:
    if not isinstance(value, int | float):
        return ""
    minutes, seconds = divmod(float(value), 60)
    return f"{int(minutes)}m{seconds:04.1f}s" if minutes else f"{seconds:.1f}s"


def list_builds(ctx: typer.Context, app: AppOption = None, as_json: JsonOption = False) -> None:
    """List the app's builds, newest first: status, source or commit, started, duration."""
    target = require_app(app)
    output.listing(
        api(ctx).get_all(f"/v1/apps/{target}/builds"),
        {
            "id": output.field("id"),
            "status": _status,
            "source": source_of,
            "by": output.field("started_by"),
            "started": lambda b: output.when(b.get("started_at") or b.get("queued_at")),
            "duration": lambda b: _duration(b.get("duration")),
            "release": lambda b: _release(b.get("release")) or "",
        },
        as_json=as_json,
        empty=f"{target} has no builds yet: deploy it with `xae deploy --app {target}`",
    )


def _status(build: dict[str, Any]) -> Text:
    status = str(build.get("status"))
    return Text(status, style=STATUS_STYLE.get(status, ""))


def _release(value: Any) -> str | None:
    return output.version(value) if isinstance(value, int) else None


def info(
    ctx: typer.Context, build_id: BuildId, app: AppOption = None, as_json: JsonOption = False
) -> None:
    """Show one build: status, source, commit, times, image."""
    target = require_app(app)
    build: dict[str, Any] = api(ctx).get(f"/v1/apps/{target}/builds/{build_id}")
    if as_json:
        output.print_json(build)
        return
    rows: list[tuple[str, Any]] = [
        ("id", build.get("id")),
        ("status", build.get("status")),
        ("source", build.get("source")),
        ("commit", build.get("commit")),
        ("message", build.get("commit_message")),
        ("branch", build.get("branch")),
        ("by", build.get("started_by")),
        ("queued", output.when(build.get("queued_at"))),
        ("started", output.when(build.get("started_at"))),
        ("finished", output.when(build.get("finished_at"))),
        ("duration", _duration(build.get("duration")) or None),
        ("stack", build.get("stack")),
        ("image", build.get("image")),
        ("release", _release(build.get("release"))),
    ]
    output.key_values([(key, value) for key, value in rows if value not in (None, "")])


def logs(
    ctx: typer.Context, build_id: BuildId, app: AppOption = None, as_json: JsonOption = False
) -> None:
    """Print a build's stored log."""
    target = require_app(app)
    stored: dict[str, Any] = api(ctx).get(f"/v1/apps/{target}/builds/{build_id}/log")
    if as_json:
        output.print_json(stored)
        return
    if not stored.get("kept"):
        output.plain(
            f"the log of build {build_id} was not kept: only the newest builds of an app keep "
            "theirs (the platform's XAE_BUILD_LOGS_KEPT)"
        )
        return
    for line in str(stored.get("log") or "").splitlines():
        output.raw_line(line)


def cancel(
    ctx: typer.Context, build_id: BuildId, app: AppOption = None, as_json: JsonOption = False
) -> None:
    """Cancel a queued build (it never starts) or a running one (it is stopped); the current
    release keeps serving."""
    target = require_app(app)
    result: dict[str, Any] = api(ctx).post(
        f"/v1/apps/{target}/builds/{build_id}/cancel", {}, timeout=150
    )
    if as_json:
        output.print_json(result)
        return
    output.success(output.text(result.get("message")))

"""`xae cron`, `cron:add`, `cron:remove`, `cron:run`, `cron:runs`, `cron:logs`: commands an app
runs on a schedule, each run a one-off container of its current release.

The schedule is checked by the API (one gate for the CLI and manifests); its errors name the
expression. Times are shown in UTC, as the API gives them; a job's zone only says how its
schedule is read.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from xae.cli import output
from xae.cli.client import api
from xae.cli.options import AppOption, JsonOption, require_app

JobArgument = Annotated[str, typer.Argument(metavar="NAME", help="The job's name, e.g. backup.")]
_STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "interrupted": "red",
    "running": "yellow",
    "skipped": "dim",
}


def list_jobs(ctx: typer.Context, app: AppOption = None, as_json: JsonOption = False) -> None:
    """List the app's cron jobs and when each runs next (UTC)."""
    target = require_app(app)
    output.listing(
        api(ctx).get(f"/v1/apps/{target}/cron"),
        {
            "job": output.field("name"),
            "schedule": output.field("schedule"),
            "zone": output.field("zone"),
            "command": output.field("command"),
            "overlap": output.field("overlap"),
            "next run (UTC)": output.field_when("next_run_at"),
            "from": output.field("source"),
        },
        as_json=as_json,
        empty=f'{target} has no cron jobs: add one with `xae cron:add NAME "SCHEDULE" COMMAND '
        f"--app {target}`",
    )


def add(
    ctx: typer.Context,
    name: JobArgument,
    schedule: Annotated[
        str,
        typer.Argument(
            metavar="SCHEDULE",
            help='5-field cron syntax, quoted: "30 2 * * *" (02:30 daily), "*/15 * * * *".',
        ),
    ],
    command: Annotated[str, typer.Argument(metavar="COMMAND", help="Quoted if it has spaces.")],
    zone: Annotated[
        str | None,
        typer.Option("--zone", help="The IANA time zone the schedule is read in (default UTC)."),
    ] = None,
    overlap: Annotated[
        str | None,
        typer.Option("--overlap", help="skip (default: no run while the last one runs) or allow."),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds a run may take.")
    ] = None,
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a command on a schedule, in a one-off container of the app's current release."""
    target = require_app(app)
    body: dict[str, Any] = {"name": name, "schedule": schedule, "command": command}
    if zone is not None:
        body["zone"] = zone
    if overlap is not None:
        body["overlap"] = overlap
    if timeout is not None:
        body["timeout"] = timeout
    job: dict[str, Any] = api(ctx).post(f"/v1/apps/{target}/cron", body)
    if as_json:
        output.print_json(job)
        return
    output.success(
        f"cron job {job.get('name')} of {target} runs `{job.get('command')}` on "
        f"{job.get('schedule')} ({job.get('zone')}); next run {output.when(job.get('next_run_at'))}"
        " UTC"
    )


def remove(ctx: typer.Context, name: JobArgument, app: AppOption = None) -> None:
    """Remove a cron job and its history."""
    target = require_app(app)
    api(ctx).delete(f"/v1/apps/{target}/cron/{name}")
    output.success(f"cron job {name} of {target} removed")


def run(
    ctx: typer.Context, name: JobArgument, app: AppOption = None, as_json: JsonOption = False
) -> None:
    """Run a cron job now, whatever its schedule; `xae cron:logs ID` shows how it went."""
    target = require_app(app)
    started: dict[str, Any] = api(ctx).post(f"/v1/apps/{target}/cron/{name}/runs")
    if as_json:
        output.print_json(started)
        return
    run_id = started.get("id")
    output.success(f"run {run_id} of {name} started: see `xae cron:logs {run_id} --app {target}`")


def runs(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(metavar="[NAME]", help="Only this job.")] = None,
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """The app's latest cron runs, newest first: started, finished, exit code, duration."""
    target = require_app(app)
    params = {"job": name} if name else None
    output.listing(
        api(ctx).get(f"/v1/apps/{target}/cron-runs", params=params),
        {
            "id": output.field("id"),
            "job": output.field("job"),
            "status": _status,
            "started": output.field_when("started_at"),
            "finished": output.field_when("finished_at"),
            "exit": output.field("exit_code"),
            "duration": _duration,
            "release": lambda run: output.version(run.get("release")),
        },
        as_json=as_json,
        empty=f"no cron runs of {target} yet",
    )


def _status(run: dict[str, Any]) -> Text:
    status = str(run.get("status"))
    return Text(status, style=_STATUS_STYLE.get(status, ""))


def _duration(run: dict[str, Any]) -> str:
    duration = run.get("duration")
    return "-" if duration is None else f"{float(duration):.1f} s"


def logs(
    ctx: typer.Context,
    run_id: Annotated[int, typer.Argument(metavar="RUN_ID", help="From `xae cron:runs`.")],
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """What a cron run printed (its last lines, kept when it ended)."""
    target = require_app(app)
    found: dict[str, Any] = api(ctx).get(f"/v1/apps/{target}/cron-runs/{run_id}")
    if as_json:
        output.print_json(found)
        return
    status = found.get("status")
    if status == "running":
        output.plain(
            f"run {run_id} of {found.get('job')} is still running: its output is kept when it ends"
        )
        return
    for line in str(found.get("output") or "").splitlines():
        output.raw_line(line)
    ending = f"exit code {found.get('exit_code')}" if found.get("exit_code") is not None else ""
    reason = found.get("reason") or ""
    output.plain(
        f"-- run {run_id} of {found.get('job')}: {status}"
        + (f", {ending}" if ending and not reason else "")
        + (f" ({reason})" if reason else ""),
        style=_STATUS_STYLE.get(str(status), ""),
    )

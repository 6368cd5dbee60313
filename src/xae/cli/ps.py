"""`xae ps`, `ps:scale`, `ps:resize`, `ps:restart`: the app's process formation and instances.

`ps:resize` sets what bounds a process type's instances: memory, CPUs, and whether their root
filesystem is read-only (`--read-only`; /tmp stays writable).

Formation is what the user asked for (desired state); instances are what is running now. `ps`
shows both so a user can see the reconciler catching up. `TYPE=N` arguments are checked here
so a typo never reaches the API.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from xae.cli import output
from xae.cli.client import api
from xae.cli.errors import usage_error
from xae.cli.options import AppOption, JsonOption, checked, require_app
from xae.domain import names


def render_formation(formation: list[dict[str, Any]]) -> None:
    """One line per process type: `web: 3 × (512M, 1.0 cpu) python app.py`; a read-only
    root filesystem shows as `(512M, 1.0 cpu, read-only)`."""
    if not formation:
        output.plain("no process types yet: deploy the app first")
        return
    for entry in formation:
        cpus = entry.get("cpus")
        cpu_text = f"{float(cpus):.1f}" if isinstance(cpus, int | float) else output.text(cpus)
        line = Text(f"{entry.get('type')}", style="bold")
        read_only = ", read-only" if entry.get("read_only") is True else ""
        line.append(
            f": {entry.get('quantity')} × ({output.text(entry.get('memory'))}, {cpu_text} cpu"
            f"{read_only}) "
        )
        line.append(output.text(entry.get("command")), style="cyan")
        output.out().print(line, soft_wrap=True)


def render_instances(instances: list[dict[str, Any]]) -> None:
    if not instances:
        output.plain("no instances running")
        return
    table = output.table(
        "instance", "type", "release", "state", "healthy", "address", "started", "user"
    )
    for instance in instances:
        healthy = instance.get("healthy")
        health = (
            Text("-", style="dim")
            if healthy is None
            else Text("yes", style="green")
            if healthy
            else Text("no", style="red")
        )
        table.add_row(
            Text(str(instance.get("name"))),
            Text(str(instance.get("type"))),
            Text(output.version(instance.get("release"))),
            Text(str(instance.get("state"))),
            health,
            Text(output.text(instance.get("address"))),
            Text(output.when(instance.get("started_at"))),
            Text(output.text(instance.get("user"))),
        )
    output.show(table)


def ps(ctx: typer.Context, app: AppOption = None, as_json: JsonOption = False) -> None:
    """Show the formation (desired) and the running instances (actual)."""
    target = require_app(app)
    client = api(ctx)
    formation: list[dict[str, Any]] = client.get(f"/v1/apps/{target}/formation")
    instances: list[dict[str, Any]] = client.get(f"/v1/apps/{target}/instances")
    if as_json:
        output.print_json({"formation": formation, "instances": instances})
        return
    render_formation(formation)
    output.plain("")
    render_instances(instances)


def parse_scale(pairs: list[str]) -> list[dict[str, Any]]:
    """`["web=3", "worker=0"]` → formation updates; a usage error on any malformed pair."""
    updates: list[dict[str, Any]] = []
    seen: set[str] = set()
    for pair in pairs:
        kind, sep, count = pair.partition("=")
        if not sep or not kind or not count:
            raise usage_error(f"{pair!r} is not TYPE=N (for example web=3)")
        checked(names.validate_process_type, kind)
        if not count.isdigit():
            raise usage_error(f"{pair!r}: the quantity must be a whole number ≥ 0")
        if kind in seen:
            raise usage_error(f"process type {kind!r} is given twice")
        seen.add(kind)
        updates.append({"type": kind, "quantity": int(count)})
    return updates


def scale(
    ctx: typer.Context,
    pairs: Annotated[list[str], typer.Argument(help="TYPE=N pairs, e.g. web=3 worker=1.")],
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set how many instances of each process type run."""
    target = require_app(app)
    updates = parse_scale(pairs)
    formation: list[dict[str, Any]] = api(ctx).patch(
        f"/v1/apps/{target}/formation", {"updates": updates}
    )
    if as_json:
        output.print_json(formation)
        return
    summary = ", ".join(f"{u['type']}={u['quantity']}" for u in updates)
    output.success(f"scaled {target}: {summary}")
    render_formation(formation)


def resize(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(metavar="TYPE", help="Process type, e.g. web.")],
    memory: Annotated[
        str | None, typer.Option("--memory", "-m", help="Memory limit, e.g. 256M or 1G.")
    ] = None,
    cpus: Annotated[
        float | None, typer.Option("--cpus", "-c", help="CPU limit, e.g. 0.5.", min=0.01)
    ] = None,
    read_only: Annotated[
        bool | None,
        typer.Option(
            "--read-only/--no-read-only",
            help="Mount the root filesystem read-only (/tmp stays writable), or writable again.",
            show_default=False,
        ),
    ] = None,
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change the limits of a process type: memory, CPUs, a read-only filesystem."""
    target = require_app(app)
    checked(names.validate_process_type, kind)
    if memory is None and cpus is None and read_only is None:
        raise usage_error("nothing to change: pass --memory, --cpus or --read-only/--no-read-only")
    update: dict[str, Any] = {"type": kind}
    if memory is not None:
        update["memory"] = memory
    if cpus is not None:
        update["cpus"] = cpus
    if read_only is not None:
        update["read_only"] = read_only
    formation: list[dict[str, Any]] = api(ctx).patch(
        f"/v1/apps/{target}/formation", {"updates": [update]}
    )
    if as_json:
        output.print_json(formation)
        return
    output.success(f"resized {kind} of {target}")
    render_formation(formation)


def restart(
    ctx: typer.Context,
    kind: Annotated[
        str | None,
        typer.Argument(
            metavar="[TYPE]", help="Only restart this process type.", show_default=False
        ),
    ] = None,
    app: AppOption = None,
) -> None:
    """Restart all instances of the app (or of one process type)."""
    target = require_app(app)
    if kind is not None:
        checked(names.validate_process_type, kind)
    api(ctx).post(f"/v1/apps/{target}/restart", {"type": kind})
    what = f"{kind} instances" if kind else "all instances"
    output.success(f"restarting {what} of {target}")

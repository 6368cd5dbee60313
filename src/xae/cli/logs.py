"""`xae logs`: print an app's log lines as the API streams them.

Lines are written exactly as received (no Rich markup, flushed one by one) so `xae logs -f |
grep` works. Ctrl-C is how users stop following, so it ends the command quietly with exit 0.
"""

from __future__ import annotations

from typing import Annotated

import typer

from xae.cli import output
from xae.cli.client import api
from xae.cli.options import AppOption, checked, require_app
from xae.domain import names


def logs(
    ctx: typer.Context,
    app: AppOption = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep streaming new lines.")
    ] = False,
    process: Annotated[
        str | None, typer.Option("--ps", help="Only this process type, e.g. web.")
    ] = None,
    num: Annotated[int, typer.Option("--num", "-n", help="How many past lines.", min=0)] = 100,
) -> None:
    """Show (and with -f follow) the app's logs."""
    target = require_app(app)
    if process is not None:
        checked(names.validate_process_type, process)
    params = {"follow": follow, "process": process, "tail": num}
    try:
        with api(ctx).stream("GET", f"/v1/apps/{target}/logs", params=params) as response:
            for line in response.iter_lines():
                output.raw_line(line)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None

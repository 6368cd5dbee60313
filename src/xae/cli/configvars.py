"""`xae config`, `config:set`, `config:get`, `config:unset`: the app's environment variables.

Named `configvars` so it is never confused with `xae.cli.config` (the client's own settings).
Every change makes a new release, which the output names. Keys are checked locally with xae's
name gate; values are never put into an error message, since they are often secrets. A viewer
of the app's team gets the keys with no values (`null`): they are shown as hidden, never as a
value of their own.
"""

from __future__ import annotations

import shlex
from typing import Annotated, Any

import typer
from rich.text import Text

from xae.cli import output
from xae.cli.client import api
from xae.cli.errors import CLIError, usage_error
from xae.cli.options import AppOption, JsonOption, checked, require_app
from xae.domain import names

HIDDEN = "(hidden: reading values needs the developer role)"


def show(
    ctx: typer.Context,
    app: AppOption = None,
    shell: Annotated[
        bool, typer.Option("--shell", help="Print KEY=value lines (quoted for a POSIX shell).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show the app's config vars."""
    target = require_app(app)
    values: dict[str, Any] = api(ctx).get(f"/v1/apps/{target}/config")
    if as_json:
        output.print_json(values)
        return
    if shell:
        if any(value is None for value in values.values()):
            raise CLIError(
                f"the values of {target}'s config are hidden from you: reading them needs the "
                "developer role in its team; `xae config` lists the keys",
                code="forbidden",
            )
        for key in sorted(values):
            output.raw_line(f"{key}={shlex.quote(str(values[key]))}")
        return
    if not values:
        output.plain(f"{target} has no config vars: set some with `xae config:set KEY=value`")
        return
    table = output.table("key", "value")
    for key in sorted(values):
        value = values[key]
        table.add_row(
            Text(key, style="bold"),
            Text(HIDDEN, style="dim") if value is None else Text(str(value)),
        )
    output.show(table)


def get(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="KEY")],
    app: AppOption = None,
) -> None:
    """Print one config var's value (nothing else, for use in scripts)."""
    target = require_app(app)
    values: dict[str, Any] = api(ctx).get(f"/v1/apps/{target}/config")
    if key not in values:
        raise CLIError(f"{target} has no config var {key}", code="not_found")
    if values[key] is None:
        raise CLIError(
            f"the value of {key} is hidden from you: reading config values of {target} needs the "
            "developer role in its team",
            code="forbidden",
        )
    output.raw_line(str(values[key]))


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """`["A=1", "B=x=y"]` → `{"A": "1", "B": "x=y"}`; a usage error on any malformed pair."""
    changes: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            # Only the part before any '=' is shown: the rest may be a secret.
            raise usage_error(f"{key[:40]!r} is not KEY=value (for example DEBUG=1)")
        checked(names.validate_config_key, key)
        changes[key] = value
    return changes


def set_vars(
    ctx: typer.Context,
    pairs: Annotated[list[str], typer.Argument(metavar="KEY=VALUE...")],
    app: AppOption = None,
) -> None:
    """Set config vars; makes a new release and restarts the app."""
    target = require_app(app)
    changes = parse_assignments(pairs)
    release: dict[str, Any] = api(ctx).patch(f"/v1/apps/{target}/config", changes)
    output.success(
        f"set {', '.join(changes)} on {target}: now {output.version(release.get('version'))}"
    )


def unset(
    ctx: typer.Context,
    keys: Annotated[list[str], typer.Argument(metavar="KEY...")],
    app: AppOption = None,
) -> None:
    """Remove config vars; makes a new release and restarts the app."""
    target = require_app(app)
    changes: dict[str, None] = {checked(names.validate_config_key, key): None for key in keys}
    release: dict[str, Any] = api(ctx).patch(f"/v1/apps/{target}/config", changes)
    output.success(
        f"unset {', '.join(changes)} on {target}: now {output.version(release.get('version'))}"
    )

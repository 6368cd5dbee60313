"""Options shared by many commands, so every command spells `--app` and `--json` the same way.

The app comes from `--app/-a` or `XAE_APP`; it is checked with xae's one name gate
(`xae.domain.names`) before it is put into a URL path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from xae.cli.errors import EXIT_USAGE, CLIError, usage_error
from xae.domain import names

AppOption = Annotated[
    str | None,
    typer.Option(
        "--app",
        "-a",
        envvar="XAE_APP",
        help="The app to act on (or set XAE_APP).",
        show_envvar=False,
    ),
]

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the raw JSON from the API, for scripts.")
]


def require_app(app: str | None) -> str:
    """The selected app name, validated; a usage error saying to pass `--app` if missing."""
    if not app:
        raise usage_error("no app selected: pass --app NAME (or set XAE_APP)")
    return app_name(app)


def app_name(name: str) -> str:
    return checked(names.validate_app_name, name)


def checked(validate: Callable[[str], str], value: str) -> str:
    """Run one of `xae.domain.names`' validators, turning its error into a usage error.

    The validators raise `xae.errors.InvalidName`; the CLI deliberately imports nothing from
    xae but `xae.domain.names`, and the validators raise nothing else, so any exception here
    is that one.
    """
    try:
        return validate(value)
    except Exception as e:
        raise CLIError(str(e), code="invalid_name", exit_code=EXIT_USAGE) from e


def team_name(name: str) -> str:
    return checked(names.validate_team_name, name)


def user_name(name: str) -> str:
    return checked(names.validate_user_name, name)


TeamOption = Annotated[
    str | None,
    typer.Option("--team", "-t", help="The team (`xae teams` lists yours).", show_default=False),
]

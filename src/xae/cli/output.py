"""How the CLI prints: Rich for people, plain JSON for scripts, errors on stderr.

Consoles are made per call, not at import, so they follow whatever `sys.stdout` is at the time
(the test runner swaps it) and pick up the terminal's current width. Text that came from an app
or the server (log lines, config values) is printed with markup off, so `[red]` in a user's log
is shown as written and cannot restyle or hide output; terminal escapes in it (pip's colours, a
hostile app's cursor moves) are removed before printing, keeping the text
(`xae.domain.terminal`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from xae.cli.errors import CLIError
from xae.domain.terminal import strip_escapes


def out() -> Console:
    return Console(highlight=False, soft_wrap=False)


def err() -> Console:
    return Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """The raw API payload, for `--json`: stable, parseable, no colour."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def plain(text: str, *, style: str | None = None) -> None:
    """One line of text that must not be interpreted as Rich markup."""
    out().print(Text(text, style=style or ""), soft_wrap=True)


def raw_line(line: str) -> None:
    """A line as the server sent it (app logs) minus terminal escapes, flushed at once."""
    sys.stdout.write(strip_escapes(line.rstrip("\n")) + "\n")
    sys.stdout.flush()


def success(message: str) -> None:
    out().print(Text(message, style="green"), soft_wrap=True)


def render_error(error: CLIError) -> None:
    """`error: <message> (<code>)` in red, then any `details.log_tail` lines dimmed."""
    console = err()
    line = Text("error: ", style="bold red")
    line.append(strip_escapes(error.message), style="red")
    if error.code and error.code != "usage":
        line.append(f" ({error.code})", style="red")
    console.print(line, soft_wrap=True)
    for tail_line in log_tail(error.details):
        console.print(Text(f"  {strip_escapes(tail_line)}", style="dim"), soft_wrap=True)


def log_tail(details: dict[str, Any]) -> list[str]:
    tail = details.get("log_tail")
    if isinstance(tail, str):
        return tail.splitlines()
    if isinstance(tail, list):
        return [str(item) for item in tail]
    return []


def table(*columns: str, title: str | None = None) -> Table:
    result = Table(title=title, title_justify="left", header_style="bold", box=None)
    for column in columns:
        result.add_column(column, overflow="fold")
    return result


def show(renderable: Table) -> None:
    out().print(renderable)


def version(value: int | None) -> str:
    return "-" if value is None else f"v{value}"


def text(value: Any) -> str:
    """A table cell for an optional API value."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def when(value: Any) -> str:
    """An ISO timestamp trimmed to the second, which is what people read."""
    if not isinstance(value, str) or not value:
        return "-"
    trimmed = value.replace("T", " ")
    if "." in trimmed:
        trimmed = trimmed.split(".", 1)[0]
    return trimmed.removesuffix("Z").removesuffix("+00:00")


def key_values(rows: Sequence[tuple[str, Any]]) -> None:
    """Aligned `key: value` lines, as in `apps:info`."""
    width = max((len(key) for key, _ in rows), default=0)
    console = out()
    for key, value in rows:
        line = Text(f"{key + ':':<{width + 1}} ", style="bold")
        line.append(text(value))
        console.print(line, soft_wrap=True)


Row = dict[str, Any]
Cell = Callable[[Row], "str | Text"]
"""One column of a listing: the cell it shows for one row of the API's answer."""


def field(key: str) -> Cell:
    """The column showing `row[key]` (`-` when it is missing)."""
    return lambda row: text(row.get(key))


def field_when(key: str) -> Cell:
    """The column showing the timestamp `row[key]`, to the second."""
    return lambda row: when(row.get(key))


def rows_table(rows: Sequence[Row], columns: Mapping[str, Cell]) -> None:
    """A table of `rows`, one column per `header → cell`. A cell given as a string is shown as
    written (never read as Rich markup: it came from the server or an app)."""
    result = table(*columns)
    for row in rows:
        cells = (cell(row) for cell in columns.values())
        result.add_row(*(c if isinstance(c, Text) else Text(c) for c in cells))
    show(result)


def listing(rows: Sequence[Row], columns: Mapping[str, Cell], *, as_json: bool, empty: str) -> None:
    """A `noun` listing: the API's rows as they came (`--json`), `empty` when there are
    none (a line that says what to do), or else their table."""
    if as_json:
        print_json(rows)
    elif not rows:
        plain(empty)
    else:
        rows_table(rows, columns)

"""Procfile parsing: `type: command` lines, the whole file rejected at the first bad line."""

from __future__ import annotations

import re

from xae.errors import InvalidProcfile

_LINE = re.compile(r"^([A-Za-z0-9_-]+)\s*:\s*(.*)$")
_TYPE = re.compile(r"^[a-z][a-z0-9_-]{0,29}$")
MAX_PROCESS_TYPES = 30
"""Each type is a formation row, and on Kubernetes a Deployment even at zero instances."""


def parse_procfile(text: str) -> dict[str, str]:
    """Parse a Procfile into `{process type: command}`.

    Blank lines and `#` comments are ignored. Any other line that is not `type: command` with a
    valid, unique type and a non-empty command rejects the whole file, naming the line.
    """
    processes: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        where = f"Procfile line {number} ({line[:60]!r})"
        if match is None:
            raise InvalidProcfile(f"{where}: expected 'type: command', e.g. 'web: python app.py'")
        ptype, command = match.group(1), match.group(2).strip()
        if not _TYPE.fullmatch(ptype):
            raise InvalidProcfile(
                f"{where}: process type {ptype!r} must be lowercase letters, digits, '-' or '_', "
                "starting with a letter"
            )
        if not command:
            raise InvalidProcfile(f"{where}: process type {ptype!r} has no command")
        if ptype in processes:
            raise InvalidProcfile(f"{where}: process type {ptype!r} is defined twice")
        processes[ptype] = command
    if len(processes) > MAX_PROCESS_TYPES:
        raise InvalidProcfile(
            f"the Procfile defines {len(processes)} process types; the maximum is "
            f"{MAX_PROCESS_TYPES}: run related work in one process type"
        )
    return processes

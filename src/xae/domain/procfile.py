"""Procfile parsing: `type: command` lines, the whole file rejected at the first bad line.

The text is untrusted data. Errors name the line number and what is wrong with it, never the
line itself: if a Procfile were ever a link to a host file, quoting its first line would hand
that file (say, a password) to whoever uploaded the link.
"""

from __future__ import annotations

import re

from xae.domain.policy import PROCESS_TYPE_PATTERN
from xae.errors import InvalidProcfile

_LINE = re.compile(r"^([A-Za-z0-9_-]+)\s*:\s*(.*)$")
_TYPE = re.compile(PROCESS_TYPE_PATTERN)
RELEASE_PHASE = "release"
"""The Procfile entry run once per deploy before the rollout (`xae.control.releasephase`), in
a one-off container: never a process type that is scaled, planned or routed."""
MAX_PROCESS_TYPES = 30
"""Most process types one Procfile may declare: each type is a formation row, and on
Kubernetes a Deployment even at zero instances."""


def parse_procfile(text: str) -> dict[str, str]:
    """Parse a Procfile into `{process type: command}`.

    Blank lines and `#` comments are ignored. Any other line that is not `type: command` with a
    valid, unique type and a non-empty command rejects the whole file, naming the line number.
    More than MAX_PROCESS_TYPES types reject it too.
    """
    processes: dict[str, str] = {}
    defined_on: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        where = f"Procfile line {number}"
        if match is None:
            raise InvalidProcfile(f"{where}: expected 'type: command', e.g. 'web: python app.py'")
        ptype, command = match.group(1), match.group(2).strip()
        if not _TYPE.fullmatch(ptype):
            raise InvalidProcfile(
                f"{where}: the process type must be lowercase letters, digits, '-' or '_', "
                "starting with a letter, at most 30 characters"
            )
        if not command:
            raise InvalidProcfile(f"{where}: the process type has no command after the ':'")
        if ptype in processes:
            raise InvalidProcfile(
                f"{where}: the process type is defined twice (first on line "
                f"{defined_on[ptype]}); keep one of the two lines"
            )
        if len(processes) == MAX_PROCESS_TYPES:
            raise InvalidProcfile(
                f"{where}: the Procfile declares more than {MAX_PROCESS_TYPES} process types; "
                "combine or remove some"
            )
        processes[ptype] = command
        defined_on[ptype] = number
    return processes


def scaled_processes(processes: dict[str, str]) -> dict[str, str]:
    """The process types that run as instances: every entry but `release`."""
    return {ptype: command for ptype, command in processes.items() if ptype != RELEASE_PHASE}

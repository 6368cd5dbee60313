"""Build and app output made safe to print: terminal escapes removed, the text kept.

pip, npm and many apps colour their output and redraw progress bars with escape sequences and
carriage returns. Printed raw, a failed deploy showed `\\x1b[31m` soup; worse, output from a
build or an app is text someone else controls, and escapes can retitle, clear or rewrite the
user's terminal. So every line from a build or an app is reduced to printable text before a
terminal sees it. Pure: no I/O.
"""

from __future__ import annotations

import re

_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erase (ESC [ ... final byte)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks (ESC ] ... BEL/ST)
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"  # any other escape (charset selection, keypad modes, a lone ESC)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # the 8-bit CSI
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_escapes(line: str) -> str:
    """`line` without terminal escapes and control characters; tabs stay.

    A carriage return redraws the line on a terminal, so only the text after the last one is
    kept (a progress bar's final state), unless nothing follows it."""
    line = _ESCAPES.sub("", line)
    if "\r" in line:
        segments = [s for s in line.split("\r") if s.strip()]
        line = segments[-1] if segments else ""
    return _CONTROLS.sub("", line)

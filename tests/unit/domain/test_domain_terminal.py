"""Terminal escapes are removed from build and app output; the text stays."""

from __future__ import annotations

import pytest

from xae.domain.terminal import strip_escapes


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x1b[31mERROR:\x1b[0m No matching distribution", "ERROR: No matching distribution"),
        ("\x1b[1;33mnpm\x1b[39;22m \x1b[31mERR!\x1b[39m code E404", "npm ERR! code E404"),
        ("\x1b]0;owned\x07title", "title"),
        ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("\x1b[2J\x1b[Hcleared", "cleared"),
        ("  10%\r  50%\r 100% done", " 100% done"),
        ("trailing return\r", "trailing return"),
        ("bell\x07 and NUL\x00 and C1\x9b31m", "bell and NUL and C1"),
        ("tabs\tstay", "tabs\tstay"),
        ("plain text", "plain text"),
    ],
)
def test_escapes_go_and_text_stays(raw: str, clean: str) -> None:
    assert strip_escapes(raw) == clean

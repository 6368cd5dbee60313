"""docs/benchmarks.md as the benchmarks share it: `make bench` (bench/run.py) writes the head
and its table, and every other benchmark owns one `### ` section, which a re-run replaces in
place (or appends), keeping everything else.

One module so that each benchmark only says which section is its own; none may rewrite,
reorder or drop another's.
"""

from __future__ import annotations

import re
from pathlib import Path

REPORT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
"""The report every benchmark writes into."""


def write_section(text: str, section: str, where: Path = REPORT) -> None:
    """Replace the section of `where` headed `section` (a `### ` line, maybe followed by
    ` — <date>`) by `text`, up to the next `### ` heading; append `text` when there is none
    yet. `### git push to serving` is not `### git push to serving, cold and Node`."""
    current = where.read_text() if where.exists() else "# Benchmarks\n"
    heading = rf"^{re.escape(section)}(?=$| — )"
    pattern = re.compile(rf"{heading}.*?(?=^### |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text.strip() + "\n\n", current, count=1)
    else:
        updated = current.rstrip() + "\n\n" + text.strip() + "\n"
    where.write_text(updated.rstrip() + "\n")


def appended_sections(text: str) -> str:
    """The `### ` sections of a report (what the other benchmarks wrote): a re-run of
    `make bench` rewrites its own part of the file and keeps these."""
    match = re.search(r"^### ", text, re.MULTILINE)
    return text[match.start() :].strip() if match else ""

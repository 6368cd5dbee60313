"""Which Python an app asks for, and which of the offered versions it gets.

An app states its Python in one of the places people already use, read in this fixed order
(the first one present wins): `.python-version` (`3.13`, as pyenv and uv write it),
`runtime.txt` (`python-3.12.1`, Heroku's older way), the Pipfile's `[requires]`
(`python_version` / `python_full_version`), pyproject's `[project].requires-python` (`>=3.12`) and
Poetry's `[tool.poetry.dependencies].python` (`^3.11`). xae offers one release per minor version
(the one Debian's suite carries), so a request names a minor series: `3.12.1` asks for 3.12.
The newest offered version that satisfies the request is chosen; none: BuildFailed listing what
is offered. No request at all: the first offered version (the platform's default, the one every
app got before versions existed), so an unchanged app never changes Python under its owner.

Like every look at the source, files are read through `sourcefiles`; errors name the file and
never quote it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from xae.builder import sourcefiles
from xae.errors import BuildFailed

_MINOR = re.compile(r"^(?:python-?)?(\d+)\.(\d+)(?:\.(\d+|\*))?$", re.IGNORECASE)
_TOML_WHERE = re.compile(r"line \d+, column \d+")


@dataclass(frozen=True)
class Requested:
    """What the app asked for: a PEP 440 specifier and the file it came from."""

    specifier: str
    source: str


def load_toml(src: Path, name: str) -> dict[str, Any] | None:
    """The parsed TOML file `name` of the source, None if absent; BuildFailed naming it."""
    text = sourcefiles.read_text(src, name)
    if text is None:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib's messages may quote a character of the file: say only where it went wrong.
        where = _TOML_WHERE.search(str(e))
        at = f" ({where.group(0)})" if where else ""
        raise BuildFailed(f"{name} is not valid TOML{at}; check it with a TOML parser") from None


def _series(text: str, source: str) -> str:
    match = _MINOR.match(text.strip())
    if match is None:
        raise BuildFailed(
            f"{source} does not name a Python version xae understands; write a version such "
            "as 3.13 (major.minor) on its first line"
        )
    return f"=={match.group(1)}.{match.group(2)}.*"


def _first_line(src: Path, name: str) -> str | None:
    text = sourcefiles.read_text(src, name)
    if text is None:
        return None
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        raise BuildFailed(f"{name} is empty; write a Python version such as 3.13 in it")
    return lines[0]


def poetry_constraint(text: str) -> str:
    """Poetry's version constraint (`^3.11`, `~3.11`, `>=3.11,<4`) as a PEP 440 specifier."""
    parts = []
    for part in re.split(r"\s*,\s*|\s+(?=[<>=!~^])", text.strip()):
        if part.startswith("^"):
            nums = [int(n) for n in part[1:].split(".")]
            upper = f"{nums[0] + 1}.0" if nums[0] > 0 else f"0.{nums[1] + 1}"
            parts += [f">={part[1:]}", f"<{upper}"]
        elif part.startswith("~") and not part.startswith("~="):
            nums = [int(n) for n in part[1:].split(".")]
            upper = f"{nums[0]}.{nums[1] + 1}" if len(nums) > 1 else f"{nums[0] + 1}"
            parts += [f">={part[1:]}", f"<{upper}"]
        elif part and part[0].isdigit():
            parts.append(f"=={part}")
        elif part and part != "*":
            parts.append(part)
    return ",".join(parts)


def requested(src: Path) -> Requested | None:
    """The Python the app asks for, from the first of the files above that states one."""
    line = _first_line(src, ".python-version")
    if line is not None:
        return Requested(_series(line, ".python-version"), ".python-version")
    line = _first_line(src, "runtime.txt")
    if line is not None:
        return Requested(_series(line, "runtime.txt"), "runtime.txt")
    pipfile = load_toml(src, "Pipfile")
    requires = pipfile.get("requires") if pipfile else None
    if isinstance(requires, dict):
        for key in ("python_full_version", "python_version"):
            value = requires.get(key)
            if isinstance(value, str):
                return Requested(_series(value, f"Pipfile's [requires] {key}"), "Pipfile")
    pyproject = load_toml(src, "pyproject.toml")
    if pyproject:
        project = pyproject.get("project")
        value = project.get("requires-python") if isinstance(project, dict) else None
        if isinstance(value, str):
            return Requested(value, "pyproject.toml [project] requires-python")
        poetry = pyproject.get("tool", {}).get("poetry", {})
        deps = poetry.get("dependencies") if isinstance(poetry, dict) else None
        value = deps.get("python") if isinstance(deps, dict) else None
        if isinstance(value, str):
            try:
                spec = poetry_constraint(value)
            except (ValueError, IndexError):
                raise BuildFailed(
                    "pyproject.toml [tool.poetry.dependencies] python is not a version "
                    'constraint xae understands; write e.g. "^3.11" or ">=3.11,<4"'
                ) from None
            return Requested(spec, "pyproject.toml [tool.poetry.dependencies] python")
    return None


def _satisfies(specifier: SpecifierSet, series: str) -> bool:
    """Whether some release of the minor series `series` (e.g. `3.13`) satisfies it."""
    return any(specifier.contains(f"{series}.{patch}") for patch in range(0, 50))


def choose(want: Requested | None, offered: Sequence[str]) -> str:
    """The newest offered version satisfying `want`; the first offered one when no request."""
    if not offered:
        raise BuildFailed("this machine offers no Python version: run `make up`")
    if want is None:
        return offered[0]
    try:
        specifier = SpecifierSet(want.specifier)
    except InvalidSpecifier:
        raise BuildFailed(
            f'{want.source} is not a version constraint xae understands (PEP 440, e.g. ">=3.11")'
        ) from None
    fitting = [v for v in offered if _satisfies(specifier, v)]
    if not fitting:
        raise BuildFailed(
            f"{want.source} asks for Python {want.specifier}, which xae does not offer; "
            f"available: {', '.join(offered)}. Change the version the app asks for"
        )
    return max(fitting, key=lambda v: tuple(int(n) for n in v.split(".")))

"""Which way to build a source tree: its own Dockerfile, or one of xae's stacks.

Detection looks only at well-known file names in the top directory, in a fixed order, so a
user can always predict (and force, by adding a Dockerfile) what happens:

1. `Dockerfile` → dockerfile
2. a Python dependency manifest (requirements.txt, pyproject.toml, Pipfile, Pipfile.lock,
   poetry.lock, uv.lock, setup.py) or Django's manage.py → python
3. `package.json` → node
4. a Python version pin alone (`.python-version`, `runtime.txt`) → python
5. a Procfile whose commands run Python (python, gunicorn, uvicorn, ...) → python
6. `index.html` → static

The only content it reads is the Procfile's (step 5), through the same parser the build uses.
It follows no link out of the tree (`sourcefiles`) and runs nothing from the upload.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from xae.builder import sourcefiles
from xae.domain.procfile import parse_procfile
from xae.errors import BuildFailed, InvalidProcfile

BuildMode = Literal["dockerfile", "python", "node", "static"]

PROCFILE_RUNS_PYTHON = "Procfile (running python)"
"""The rule name for a Procfile whose commands start a Python program."""

PYTHON_PROGRAMS = frozenset(
    {
        "python",
        "python3",
        "gunicorn",
        "uvicorn",
        "hypercorn",
        "daphne",
        "waitress-serve",
        "celery",
        "flask",
        "django-admin",
        "fastapi",
    }
)


def _procfile_runs_python(src: Path) -> bool:
    text = sourcefiles.read_text(src, "Procfile", error=InvalidProcfile)
    if text is None:
        return False
    for command in parse_procfile(text).values():
        words = command.split()
        while words and "=" in words[0]:
            words.pop(0)  # `FOO=1 gunicorn ...`
        if words and (words[0].rsplit("/", 1)[-1] in PYTHON_PROGRAMS):
            return True
    return False


def _matches(src: Path, name: str) -> bool:
    if name == PROCFILE_RUNS_PYTHON:
        return _procfile_runs_python(src)
    return sourcefiles.is_file(src, name)


# (mode, the files that select it), first match wins.
RULES: tuple[tuple[BuildMode, tuple[str, ...]], ...] = (
    ("dockerfile", ("Dockerfile",)),
    (
        "python",
        (
            "requirements.txt",
            "pyproject.toml",
            "Pipfile",
            "Pipfile.lock",
            "poetry.lock",
            "uv.lock",
            "setup.py",
            "manage.py",
        ),
    ),
    ("node", ("package.json",)),
    ("python", (".python-version", "runtime.txt")),
    ("python", (PROCFILE_RUNS_PYTHON,)),
    ("static", ("index.html",)),
)


def detect(src: Path) -> BuildMode:
    """The build mode for the source tree at `src`; BuildFailed if nothing matches."""
    for mode, names in RULES:
        if any(_matches(src, name) for name in names):
            return mode
    looked_for = "; ".join(f"{' or '.join(names)} ({mode})" for mode, names in RULES)
    hint = ""
    entries = [p for p in src.iterdir() if not p.name.startswith(".")] if src.is_dir() else []
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        hint = (
            f" The source has a single directory {entries[0].name!r} at its top: create the "
            f"archive from inside it, e.g. `tar -C {entries[0].name} -czf app.tar.gz .`."
        )
    raise BuildFailed(
        f"cannot tell how to build this app: xae looks in the top directory for {looked_for}. "
        f"Add one of them.{hint}"
    )

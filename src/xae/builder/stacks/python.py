"""The python stack: a virtualenv in /app/.venv, filled from what the app pins, on the Python
version it asks for.

The build is multi-stage. The first stage runs on the version's build image (a compiler, the
common headers, and the pinned lockfile tools), copies in only the dependency manifests and
fills /app/.venv; the second starts from the slim run image, copies the venv out of the first,
then the code. A code-only change therefore reuses every dependency layer, and a package
without a wheel (psycopg2, anything `--no-binary`) builds without the compiler ever reaching the
image that runs. The run image puts /app/.venv/bin first on PATH, so `python`, `gunicorn` and
friends in a Procfile are the venv's.

What is installed, first match wins (`MANIFESTS`): `uv.lock` (uv sync --locked), `poetry.lock`
(poetry sync), `Pipfile.lock` (its pinned hashes, through pipenv), `requirements.txt` (pip),
`pyproject.toml` (its declared dependencies, then the project itself). A lock that no longer
matches its manifest fails the build with the tool's own message. The project itself is not
installed from a lock (as Heroku does): the code runs from /app.

The Dockerfile never interpolates user text into a shell command: dependency names from
pyproject.toml go into an exec-form `RUN [...]` as JSON strings; every other step is constant.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from xae.builder import sourcefiles
from xae.builder.stacks import (
    COPY_APP,
    RUN_AS_APP,
    StackImages,
    no_default_command,
    pyapp,
    pyversion,
)
from xae.builder.stacks.pyapp import dependency_names, requirement_lines
from xae.errors import BuildFailed

IGNORE: tuple[str, ...] = (".venv", "**/__pycache__")
"""Extra `.dockerignore` patterns: a local virtualenv would overwrite the image's."""

VENV = "/app/.venv"
PIP = f"{VENV}/bin/pip"
MAKE_VENV = f"python3 -m venv {VENV}"
TOOLS = "/opt/xae/tools/bin"
PIP_INSTALL = f"{PIP} install --no-cache-dir"

SERVERS = {"gunicorn": "gunicorn==27.0.1", "uvicorn": "uvicorn==0.54.0"}
"""The web server xae adds, pinned, when the detected framework needs one the app does not
declare (as Google's buildpacks do); declaring it in the app's dependencies picks the version."""

MANIFESTS = ("uv.lock", "poetry.lock", "Pipfile.lock", "requirements.txt", "pyproject.toml")
"""The dependency manifests in the order xae honours them (first present wins)."""

_LOCAL_REF = pyapp.LOCAL_REF


def pick_version(src: Path, offered: Sequence[str]) -> tuple[str, str]:
    """The Python version to build with and, for the log, where the request came from."""
    want = pyversion.requested(src)
    version = pyversion.choose(want, offered)
    if want is None:
        note = f"the default; pin one in .python-version (offered: {', '.join(offered)})"
    else:
        note = f"{want.source} asks for {want.specifier}; offered: {', '.join(offered)}"
    return version, note


def manifest(src: Path) -> str | None:
    """The dependency manifest xae installs from (see MANIFESTS), None if there is none."""
    for name in MANIFESTS:
        if sourcefiles.is_file(src, name):
            if name == "Pipfile.lock":
                pyapp.check_pipfile_lock(src)
            elif name.endswith(".lock"):
                pyversion.load_toml(src, name)  # a clear error naming it, before any build
            return name
    if sourcefiles.is_file(src, "Pipfile"):
        raise BuildFailed(
            "the app has a Pipfile but no Pipfile.lock; xae installs exactly what a lock pins: "
            "run `pipenv lock` and add Pipfile.lock"
        )
    return None


def _needs(name: str, files: Sequence[str], src: Path) -> None:
    missing = [f for f in files if not sourcefiles.is_file(src, f)]
    if missing:
        raise BuildFailed(f"{name} is there but {', '.join(missing)} is missing; add it")


def _deps_steps(src: Path, which: str | None) -> list[str]:
    """The first stage's steps after FROM: copy the manifests, fill the venv."""
    copy = "COPY {files} /app/"
    if which == "uv.lock":
        _needs("uv.lock", ["pyproject.toml"], src)
        return [
            copy.format(files="pyproject.toml uv.lock"),
            f"ENV UV_PROJECT_ENVIRONMENT={VENV}",
            f"RUN {TOOLS}/uv sync --locked --no-install-project --no-dev --python /usr/bin/python3",
        ]
    if which == "poetry.lock":
        _needs("poetry.lock", ["pyproject.toml"], src)
        return [
            copy.format(files="pyproject.toml poetry.lock"),
            f"RUN {MAKE_VENV} && {TOOLS}/poetry sync --only main --no-root",
        ]
    if which == "Pipfile.lock":
        _needs("Pipfile.lock", ["Pipfile"], src)
        return [
            copy.format(files="Pipfile Pipfile.lock"),
            f"RUN {MAKE_VENV} && {TOOLS}/pipenv verify"
            f" && {TOOLS}/pipenv requirements --hash > /tmp/xae-requirements.txt"
            f" && {PIP_INSTALL} --require-hashes --no-deps -r /tmp/xae-requirements.txt",
        ]
    if which == "requirements.txt":
        install = f"RUN {MAKE_VENV} && {PIP_INSTALL} -r /app/requirements.txt"
        if any(_LOCAL_REF.search(line) for line in requirement_lines(src)):
            # It refers to other local files: they must all be there before pip runs.
            return ["COPY . /app", install]
        return [copy.format(files="requirements.txt"), install]
    steps = [f"RUN {MAKE_VENV}"]
    deps = pyapp.pyproject_dependencies(src) if which == "pyproject.toml" else []
    if deps:
        steps.append("RUN " + json.dumps([PIP, "install", "--no-cache-dir", *deps]))
    return steps


def _server_step(src: Path) -> list[str]:
    """A step adding the web server the detected command needs, when the app lacks it."""
    command, _ = _detect_command(src)
    server = command.split(" ", 1)[0] if command else ""
    if server in SERVERS and server not in dependency_names(src):
        return [f"RUN {TOOLS}/uv pip install --python {VENV}/bin/python {SERVERS[server]}"]
    return []


def versioned_dockerfile(src: Path, images: StackImages) -> str:
    """The Dockerfile text that builds the python app at `src` with `images`."""
    which = manifest(src)
    build = images.build or images.run
    lines = [
        f"# Generated by xae (python stack, Python {images.version}).",
        f"FROM {build} AS deps",
        "WORKDIR /app",
        *_deps_steps(src, which),
        *_server_step(src),
        f"FROM {images.run}",
        f"COPY --from=deps {VENV} {VENV}",
    ]
    if which == "pyproject.toml":
        # The project itself goes into the venv (root's) once its code is in /app.
        lines += [COPY_APP, f"RUN {PIP_INSTALL} --no-deps /app", RUN_AS_APP]
    else:
        # `USER` before the code, not after it: there it is a cached step, after it one more
        # container the classic builder runs and commits on every code change (~0.1 s of each
        # warm push). The image is the same: the code's owner is `--chown`'s either way.
        lines += [RUN_AS_APP, COPY_APP]
    settings = pyapp.django_settings_file(src)
    if settings is not None and pyapp.has_static_root(src, settings):
        lines.append(pyapp.COLLECTSTATIC)
    lines.append("")
    return "\n".join(lines)


def dockerfile(src: Path, base_image: str) -> str:
    """The Dockerfile on one image (no build image): `versioned_dockerfile` on `base_image`."""
    return versioned_dockerfile(src, StackImages(version="default", run=base_image, build=None))


def _detect_command(src: Path) -> tuple[str | None, str]:
    """(the web command, why) when a framework or server is recognised; (None, "") if not."""
    deps = dependency_names(src)
    if sourcefiles.is_file(src, "manage.py"):
        project = pyapp.django_project(src)
        if project is not None:
            return f"gunicorn --bind 0.0.0.0:$PORT {project}.wsgi", "detected Django"
    found = pyapp.app_module(src)
    if found is not None:
        module, attr, factory = found
        asgi = deps & {"fastapi", "starlette"} or (
            "uvicorn" in deps and not deps & {"gunicorn", "flask"}
        )
        if asgi:
            flag = " --factory" if factory else ""
            why = "detected FastAPI" if "fastapi" in deps else "detected an ASGI app"
            return f"uvicorn --host 0.0.0.0 --port $PORT{flag} {module}:{attr}", why
        if deps & {"flask", "gunicorn"}:
            target = f"'{module}:{attr}()'" if factory else f"{module}:{attr}"
            why = "detected Flask" if "flask" in deps else "detected a WSGI app"
            return f"gunicorn --bind 0.0.0.0:$PORT {target}", why
    return None, ""


def default_command(src: Path) -> str:
    """The `web` command when there is no Procfile.

    Django (manage.py) → gunicorn on the project's wsgi module; FastAPI/Starlette → uvicorn;
    Flask (or gunicorn declared) → gunicorn; otherwise `python` on the first of app.py,
    main.py, server.py.
    """
    command, _ = _detect_command(src)
    if command is not None:
        return command
    for script in pyapp.SCRIPTS:
        if sourcefiles.is_file(src, script):
            return f"python {script}"
    raise no_default_command(
        "python",
        f"manage.py with a wsgi.py; Flask, FastAPI, gunicorn or uvicorn in the dependencies with "
        f"one of {', '.join(pyapp.MODULES)}; or one of {', '.join(pyapp.SCRIPTS)}",
    )


def default_reason(src: Path) -> str:
    """Why `default_command` chose its command, for the build log."""
    command, why = _detect_command(src)
    if command is None:
        return "no framework detected, running the script"
    server = command.split(" ", 1)[0]
    if server in SERVERS and server not in dependency_names(src):
        why += f"; xae adds {SERVERS[server]}, declare {server} to choose its version"
    return why


__all__ = [
    "IGNORE",
    "default_command",
    "default_reason",
    "dependency_names",
    "dockerfile",
    "pick_version",
    "versioned_dockerfile",
]

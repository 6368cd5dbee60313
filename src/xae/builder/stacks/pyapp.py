"""What a Python app's own files say about it: its declared dependencies, its Django project and
static files, the module that holds its WSGI/ASGI app.

Pure reading for the python stack's planning: every file goes through `sourcefiles`, nothing
is imported or run from the app, and errors name the file without quoting it. Detection reads
text with regular expressions, so it recognises the common layouts (`mysite/wsgi.py`,
`app = Flask(__name__)`, `app/main.py`) and nothing clever; a Procfile covers the rest.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from xae.builder import sourcefiles
from xae.builder.stacks.pyversion import load_toml
from xae.errors import BuildFailed

SCRIPTS = ("app.py", "main.py", "server.py")
MODULES = ("wsgi.py", "asgi.py", "app.py", "main.py", "server.py", "app/main.py", "src/main.py")
"""Where the WSGI/ASGI app object is looked for, in this order."""

LOCAL_REF = re.compile(
    r"^\s*(-r|--requirement|-c|--constraint|-e|--editable|\.|/|file:)|@\s*file:", re.IGNORECASE
)
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_SETTINGS = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([A-Za-z_][\w.]*)["']""")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")

COLLECTSTATIC = (
    "RUN SECRET_KEY=xae-build-placeholder DJANGO_SECRET_KEY=xae-build-placeholder "
    "DATABASE_URL=sqlite:////tmp/xae-build.sqlite3 python manage.py collectstatic --noinput "
    "|| { echo 'xae: `python manage.py collectstatic --noinput` failed (above). It runs in the "
    "build with no config vars, a placeholder SECRET_KEY and no database: make the settings "
    "import without them, or remove STATIC_ROOT and serve static files another way.'; exit 1; }"
)
"""Django's collectstatic in the build, as the app user, with a harmless environment: config
vars are never given to builds, so settings that need a secret get a placeholder."""


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(src: Path) -> list[str]:
    data = sourcefiles.read_bytes(src, "requirements.txt")
    if data is None:
        return []
    lines = []
    for raw in data.decode("utf-8", errors="replace").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def pyproject_dependencies(src: Path) -> list[str]:
    """`[project].dependencies` of pyproject.toml, when it is a plain static list."""
    data = load_toml(src, "pyproject.toml")
    project = data.get("project") if data else None
    deps = project.get("dependencies") if isinstance(project, dict) else None
    if isinstance(deps, list) and all(isinstance(d, str) for d in deps):
        return [d for d in deps if not LOCAL_REF.search(d)]
    return []


def _table_keys(data: dict[str, object] | None, *path: str) -> list[str]:
    node: object = data
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return [k for k in node if k != "python"] if isinstance(node, dict) else []


def dependency_names(src: Path) -> set[str]:
    """Normalized names of the distributions the app declares, in any manifest xae reads."""
    names = set()
    for line in requirement_lines(src) + pyproject_dependencies(src):
        match = _NAME.match(line)
        if match and not line.startswith("-"):
            names.add(_normalize(match.group(1)))
    pyproject = load_toml(src, "pyproject.toml")
    names.update(_normalize(k) for k in _table_keys(pyproject, "tool", "poetry", "dependencies"))
    names.update(_normalize(k) for k in _table_keys(load_toml(src, "Pipfile"), "packages"))
    return names


def check_pipfile_lock(src: Path) -> None:
    """BuildFailed naming Pipfile.lock when it is not a lock pipenv could have written."""
    text = sourcefiles.read_text(src, "Pipfile.lock")
    try:
        data = json.loads(text or "")
    except json.JSONDecodeError as e:
        raise BuildFailed(
            f"Pipfile.lock is not valid JSON (line {e.lineno}); regenerate it with `pipenv lock`"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("default"), dict):
        raise BuildFailed('Pipfile.lock has no "default" section; regenerate it with `pipenv lock`')


def _module_file(dotted: str) -> str:
    return dotted.replace(".", "/") + ".py"


def django_settings_module(src: Path) -> str | None:
    """The settings module manage.py names (`mysite.settings`), None if it names none."""
    text = (sourcefiles.read_bytes(src, "manage.py") or b"").decode("utf-8", errors="replace")
    match = _SETTINGS.search(text)
    return match.group(1) if match and _DOTTED.match(match.group(1)) else None


def django_project(src: Path) -> str | None:
    """The Django project package, whose `wsgi` module gunicorn serves: from manage.py's
    DJANGO_SETTINGS_MODULE, else the one top-level directory holding a wsgi.py."""
    settings = django_settings_module(src)
    if settings is not None and "." in settings:
        project = settings.rsplit(".", 1)[0]
        if sourcefiles.is_file(src, _module_file(project + ".wsgi")):
            return project
    candidates = (
        sorted(
            p.name
            for p in src.iterdir()
            if p.is_dir()
            and not p.is_symlink()
            and _DOTTED.match(p.name)
            and sourcefiles.is_file(src, f"{p.name}/wsgi.py")
        )
        if src.is_dir()
        else []
    )
    return candidates[0] if candidates else None


def django_settings_file(src: Path) -> str | None:
    """The path of the settings module's file inside the source, None if not found."""
    settings = django_settings_module(src)
    if settings is None:
        project = django_project(src)
        settings = f"{project}.settings" if project else None
    if settings is None:
        return None
    for name in (_module_file(settings), settings.replace(".", "/") + "/__init__.py"):
        if sourcefiles.is_file(src, name):
            return name
    return None


def has_static_root(src: Path, settings_file: str) -> bool:
    """Whether the settings configure STATIC_ROOT (so collectstatic has somewhere to write)."""
    text = (sourcefiles.read_bytes(src, settings_file) or b"").decode("utf-8", errors="replace")
    return re.search(r"^STATIC_ROOT\s*=", text, re.MULTILINE) is not None


def _app_object(text: str, module: str) -> tuple[str, str, bool]:
    for attr in ("app", "application"):
        if re.search(rf"^{attr}\s*(:[^=\n]*)?=", text, re.MULTILINE):
            return module, attr, False
    if re.search(r"^(async\s+)?def create_app\(", text, re.MULTILINE):
        return module, "create_app", True
    return module, "app", False


def app_module(src: Path) -> tuple[str, str, bool] | None:
    """(module, attribute, is_factory) of the first of MODULES present: `app`, else
    `application`, else `create_app`; None when no such file exists."""
    for name in MODULES:
        data = sourcefiles.read_bytes(src, name)
        if data is not None:
            module = name.removesuffix(".py").replace("/", ".")
            return _app_object(data.decode("utf-8", errors="replace"), module)
    return None

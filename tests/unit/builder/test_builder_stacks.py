"""Stack Dockerfiles are ordered for the build cache; default web commands are sensible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xae.builder.stacks import node, python, static
from xae.errors import BuildFailed

BASE = "xae/stack-test:abc123"
COPY_ALL = "COPY --chown=10001:10001 . /app"


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def _lines(dockerfile: str) -> list[str]:
    return [line for line in dockerfile.splitlines() if line and not line.startswith("#")]


def _index(lines: list[str], prefix: str) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(prefix))


# --- python ---------------------------------------------------------------------------------


def test_python_pyproject_dependency_text_never_reaches_a_shell(tmp_path: Path) -> None:
    pyproject = '[project]\nname = "x"\nversion = "1"\ndependencies = ["x; rm -rf / #"]\n'
    src = _write(tmp_path, {"pyproject.toml": pyproject})
    run_lines = [ln for ln in _lines(python.dockerfile(src, BASE)) if "rm -rf" in ln]
    assert run_lines and all(ln.startswith("RUN [") for ln in run_lines)


def test_python_invalid_pyproject_is_a_clear_error(tmp_path: Path) -> None:
    src = _write(tmp_path, {"pyproject.toml": "[project\n"})
    with pytest.raises(BuildFailed, match="pyproject.toml is not valid TOML"):
        python.dockerfile(src, BASE)


@pytest.mark.parametrize(
    ("files", "command"),
    [
        (
            {"requirements.txt": "Flask\ngunicorn==22.0\n", "app.py": "app = Flask(__name__)\n"},
            "gunicorn --bind 0.0.0.0:$PORT app:app",
        ),
        (
            {
                "requirements.txt": "gunicorn[gevent]>=21 ; python_version>'3'\n",
                "wsgi.py": "application = make()\n",
                "app.py": "app = 1\n",
            },
            "gunicorn --bind 0.0.0.0:$PORT wsgi:application",
        ),
        (
            {"requirements.txt": "Gunicorn\n", "main.py": "def create_app():\n    pass\n"},
            "gunicorn --bind 0.0.0.0:$PORT 'main:create_app()'",
        ),
        (
            {"requirements.txt": "fastapi\nuvicorn[standard]\n", "main.py": "app = FastAPI()\n"},
            "uvicorn --host 0.0.0.0 --port $PORT main:app",
        ),
        ({"requirements.txt": "flask\n", "app.py": ""}, "gunicorn --bind 0.0.0.0:$PORT app:app"),
        ({"requirements.txt": "rich\n", "main.py": "", "server.py": ""}, "python main.py"),
        ({"requirements.txt": "", "server.py": ""}, "python server.py"),
        ({"requirements.txt": "# gunicorn is commented out\n", "app.py": ""}, "python app.py"),
        (
            {
                "pyproject.toml": '[project]\nname="x"\nversion="1"\ndependencies=["gunicorn"]\n',
                "app.py": "app = make()\n",
            },
            "gunicorn --bind 0.0.0.0:$PORT app:app",
        ),
    ],
)
def test_python_default_web_command(tmp_path: Path, files: dict[str, str], command: str) -> None:
    assert python.default_command(_write(tmp_path, files)) == command


def test_python_without_a_runnable_file_asks_for_a_procfile(tmp_path: Path) -> None:
    src = _write(tmp_path, {"requirements.txt": "gunicorn\n", "myproject.py": ""})
    with pytest.raises(BuildFailed, match="Add a Procfile"):
        python.default_command(src)


# --- node -----------------------------------------------------------------------------------


def _package(scripts: dict[str, str] | None = None, **extra: str) -> str:
    data: dict[str, object] = {"name": "x", "version": "1.0.0", **extra}
    if scripts is not None:
        data["scripts"] = scripts
    return json.dumps(data)


@pytest.mark.parametrize("lockfile", ["package-lock.json", "npm-shrinkwrap.json"])
def test_node_with_a_lockfile_uses_npm_ci_before_copying_the_code(
    tmp_path: Path, lockfile: str
) -> None:
    src = _write(tmp_path, {"package.json": _package(), lockfile: "{}"})
    lines = _lines(node.dockerfile(src, BASE))
    assert lines[0] == f"FROM {BASE}"
    assert lines[1] == f"COPY --chown=10001:10001 package.json {lockfile} /app/"
    install = _index(lines, "RUN npm ci --omit=dev")
    assert install < lines.index(COPY_ALL)
    assert lines[install - 1] == "USER 10001"
    assert lines[-1] == "USER 10001"


def test_node_without_a_lockfile_uses_npm_install(tmp_path: Path) -> None:
    src = _write(tmp_path, {"package.json": _package(), ".npmrc": "registry=x\n"})
    lines = _lines(node.dockerfile(src, BASE))
    assert lines[1] == "COPY --chown=10001:10001 package.json .npmrc /app/"
    assert _index(lines, "RUN npm install --omit=dev") < lines.index(COPY_ALL)
    assert not any("npm ci" in line for line in lines)


@pytest.mark.parametrize(
    ("files", "command"),
    [
        ({"package.json": _package({"start": "node web.js"}), "server.js": ""}, "npm start"),
        (
            {"package.json": _package({"test": "jest"}), "index.js": "", "app.js": ""},
            "node index.js",
        ),
        ({"package.json": _package(), "server.js": "", "index.js": ""}, "node server.js"),
        ({"package.json": _package(), "app.js": ""}, "node app.js"),
        ({"package.json": _package(main="start.js"), "start.js": ""}, "node start.js"),
    ],
)
def test_node_default_web_command(tmp_path: Path, files: dict[str, str], command: str) -> None:
    assert node.default_command(_write(tmp_path, files)) == command


@pytest.mark.parametrize("main", ["../../etc/hostname", "a\u0000b"])
def test_node_main_outside_the_app_is_ignored(tmp_path: Path, main: str) -> None:
    src = _write(tmp_path, {"package.json": _package(main=main)})
    with pytest.raises(BuildFailed, match="Add a Procfile"):
        node.default_command(src)


def test_node_invalid_package_json_is_a_clear_error(tmp_path: Path) -> None:
    src = _write(tmp_path, {"package.json": "{not json"})
    with pytest.raises(BuildFailed, match="package.json is not valid JSON"):
        node.default_command(src)


# --- static ---------------------------------------------------------------------------------


def test_static_copies_the_site_and_serves_it(tmp_path: Path) -> None:
    src = _write(tmp_path, {"index.html": "<h1>hi</h1>"})
    assert _lines(static.dockerfile(src, BASE)) == [f"FROM {BASE}", COPY_ALL, "USER 10001"]
    assert static.default_command(src) == "serve-static"

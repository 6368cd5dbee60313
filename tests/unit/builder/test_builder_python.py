"""The python stack's planning: what it detects, which Python it picks, what it installs from
which lock, in which stage, and which web command it chooses (no Docker needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xae.builder.detect import detect
from xae.builder.stacks import StackImages, python
from xae.builder.stacks.pyversion import Requested, choose, poetry_constraint, requested
from xae.errors import BuildFailed, InvalidProcfile

IMAGES = StackImages(version="3.13", run="xae/stack-python-3.13:run1", build="xae/py-b:b1")
COPY_ALL = "COPY --chown=10001:10001 . /app"
OFFERED = ["3.11", "3.13"]


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _lines(src: Path) -> list[str]:
    text = python.versioned_dockerfile(src, IMAGES)
    return [line for line in text.splitlines() if line and not line.startswith("#")]


# --- detection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "mode"),
    [
        ({"Pipfile": "", "Pipfile.lock": "{}"}, "python"),
        ({"poetry.lock": "", "package.json": "{}"}, "python"),
        ({"manage.py": "", "index.html": ""}, "python"),
        ({".python-version": "3.13\n", "main.py": ""}, "python"),
        ({"runtime.txt": "python-3.11.4\n", "package.json": "{}"}, "node"),
        ({"Procfile": "web: gunicorn app:app\n", "index.html": ""}, "python"),
        ({"Procfile": "web: FOO=1 /app/.venv/bin/python -m srv\n", "index.html": ""}, "python"),
        ({"Procfile": "web: ./serve\n", "index.html": ""}, "static"),
        ({"Dockerfile": "", "manage.py": ""}, "dockerfile"),
    ],
)
def test_python_is_detected_in_the_documented_order(
    tmp_path: Path, files: dict[str, str], mode: str
) -> None:
    assert detect(_write(tmp_path, files)) == mode


def test_an_unparseable_procfile_fails_detection_naming_it(tmp_path: Path) -> None:
    _write(tmp_path, {"Procfile": "no colon here\n", "index.html": ""})
    with pytest.raises(InvalidProcfile, match="Procfile"):
        detect(tmp_path)


# --- versions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "want"),
    [
        ({".python-version": "# pyenv\n3.13\n"}, Requested("==3.13.*", ".python-version")),
        (
            {".python-version": "3.12.1\n", "runtime.txt": "python-3.11"},
            Requested("==3.12.*", ".python-version"),
        ),
        ({"runtime.txt": "python-3.12.1\n"}, Requested("==3.12.*", "runtime.txt")),
        ({"Pipfile": '[requires]\npython_version = "3.13"\n'}, Requested("==3.13.*", "Pipfile")),
        (
            {"pyproject.toml": '[project]\nrequires-python = ">=3.12"\n'},
            Requested(">=3.12", "pyproject.toml [project] requires-python"),
        ),
        (
            {"pyproject.toml": '[tool.poetry.dependencies]\npython = "^3.11"\n'},
            Requested(">=3.11,<4.0", "pyproject.toml [tool.poetry.dependencies] python"),
        ),
        ({"requirements.txt": "flask\n"}, None),
    ],
)
def test_the_requested_python_comes_from_the_first_file_stating_one(
    tmp_path: Path, files: dict[str, str], want: Requested | None
) -> None:
    assert requested(_write(tmp_path, files)) == want


@pytest.mark.parametrize(
    ("constraint", "spec"),
    [
        ("^3.11", ">=3.11,<4.0"),
        ("~3.11", ">=3.11,<3.12"),
        (">=3.10,<3.13", ">=3.10,<3.13"),
        ("3.12", "==3.12"),
    ],
)
def test_poetry_constraints_become_pep440(constraint: str, spec: str) -> None:
    assert poetry_constraint(constraint) == spec


@pytest.mark.parametrize(
    ("spec", "version"),
    [
        (">=3.11", "3.13"),
        ("<3.13", "3.11"),
        ("==3.13.*", "3.13"),
        (">3.11", "3.13"),
        ("~=3.11", "3.13"),
    ],
)
def test_the_newest_offered_version_that_fits_is_chosen(spec: str, version: str) -> None:
    assert choose(Requested(spec, "x"), OFFERED) == version


def test_no_request_gets_the_default_first_version() -> None:
    assert choose(None, OFFERED) == "3.11"


def test_an_unavailable_version_is_refused_listing_what_is_offered(tmp_path: Path) -> None:
    _write(tmp_path, {".python-version": "3.12\n"})
    with pytest.raises(BuildFailed) as raised:
        python.pick_version(tmp_path, OFFERED)
    assert ".python-version asks for Python ==3.12.*" in raised.value.message
    assert "available: 3.11, 3.13" in raised.value.message


@pytest.mark.parametrize(
    ("files", "named"),
    [
        ({".python-version": "latest-please\n"}, ".python-version"),
        ({".python-version": "\n\n"}, ".python-version"),
        ({"runtime.txt": "ruby-3.3\n"}, "runtime.txt"),
        ({"Pipfile": "[requires\n"}, "Pipfile"),
        ({"pyproject.toml": '[project]\nrequires-python = "at least 3"\n'}, "requires-python"),
    ],
)
def test_an_unreadable_version_file_is_a_clear_error_naming_it(
    tmp_path: Path, files: dict[str, str], named: str
) -> None:
    _write(tmp_path, files)
    with pytest.raises(BuildFailed) as raised:
        python.pick_version(tmp_path, OFFERED)
    assert named in raised.value.message
    assert "latest-please" not in raised.value.message and "ruby" not in raised.value.message


# --- what is installed, and where -----------------------------------------------------------


def test_dependencies_are_built_on_the_build_image_and_only_the_venv_reaches_the_run_image(
    tmp_path: Path,
) -> None:
    lines = _lines(_write(tmp_path, {"requirements.txt": "flask==3.0.3\ngunicorn\n", "app.py": ""}))
    assert lines[0] == "FROM xae/py-b:b1 AS deps"
    assert lines[2] == "COPY requirements.txt /app/"
    assert "pip install --no-cache-dir -r /app/requirements.txt" in lines[3]
    run_from = lines.index("FROM xae/stack-python-3.13:run1")
    assert lines[run_from + 1] == "COPY --from=deps /app/.venv /app/.venv"
    # The user before the code, so a code change rebuilds one step only (COPY).
    assert lines[run_from + 2 :] == ["USER 10001", COPY_ALL]


def test_requirements_that_include_local_files_copy_everything_first(tmp_path: Path) -> None:
    lines = _lines(_write(tmp_path, {"requirements.txt": "-r base.txt\n", "base.txt": "x\n"}))
    assert lines.index("COPY . /app") < next(i for i, x in enumerate(lines) if "venv" in x)


@pytest.mark.parametrize(
    ("files", "expect"),
    [
        (
            {"uv.lock": "", "pyproject.toml": "[project]\n", "requirements.txt": ""},
            ["COPY pyproject.toml uv.lock /app/", "uv sync --locked --no-install-project --no-dev"],
        ),
        (
            {"poetry.lock": "", "pyproject.toml": "[project]\n", "requirements.txt": ""},
            ["COPY pyproject.toml poetry.lock /app/", "poetry sync --only main --no-root"],
        ),
        (
            {"Pipfile.lock": '{"default": {}}', "Pipfile": "", "requirements.txt": ""},
            ["COPY Pipfile Pipfile.lock /app/", "pipenv verify", "--require-hashes --no-deps"],
        ),
    ],
)
def test_a_lock_file_wins_and_is_installed_exactly(
    tmp_path: Path, files: dict[str, str], expect: list[str]
) -> None:
    text = "\n".join(_lines(_write(tmp_path, files)))
    for fragment in expect:
        assert fragment in text
    assert "/app/requirements.txt" not in text
    assert text.index(expect[0]) < text.index("FROM xae/stack-python-3.13:run1")


@pytest.mark.parametrize(
    ("files", "named"),
    [
        ({"Pipfile.lock": "{not json", "Pipfile": ""}, "Pipfile.lock is not valid JSON (line 1)"),
        ({"Pipfile.lock": "[]", "Pipfile": ""}, 'Pipfile.lock has no "default"'),
        ({"Pipfile": "[packages]\n"}, "no Pipfile.lock"),
        ({"uv.lock": ""}, "uv.lock is there but pyproject.toml is missing"),
        ({"uv.lock": "version = [\n", "pyproject.toml": ""}, "uv.lock is not valid TOML"),
        ({"poetry.lock": "[[package]\n", "pyproject.toml": ""}, "poetry.lock is not valid TOML"),
        ({"poetry.lock": "", "pyproject.toml": "[tool\n"}, "pyproject.toml is not valid TOML"),
    ],
)
def test_a_broken_lock_or_manifest_is_a_clear_error_naming_the_file(
    tmp_path: Path, files: dict[str, str], named: str
) -> None:
    with pytest.raises(BuildFailed, match=named.replace("(", r"\(").replace(")", r"\)")):
        _lines(_write(tmp_path, files))


def test_pyproject_dependencies_go_into_an_exec_form_step(tmp_path: Path) -> None:
    pyproject = '[project]\nname = "x"\nversion = "1"\ndependencies = ["flask>=3", "x; rm -rf /"]\n'
    lines = _lines(_write(tmp_path, {"pyproject.toml": pyproject}))
    step = next(line for line in lines if line.startswith("RUN ["))
    assert json.loads(step[4:])[3:] == ["flask>=3", "x; rm -rf /"]
    assert (
        lines[lines.index(COPY_ALL) + 1]
        == "RUN /app/.venv/bin/pip install --no-cache-dir --no-deps /app"
    )


def test_a_framework_without_its_server_gets_one_added_in_the_deps_stage(tmp_path: Path) -> None:
    lines = _lines(_write(tmp_path, {"requirements.txt": "flask\n", "app.py": "app = Flask()\n"}))
    uv = "RUN /opt/xae/tools/bin/uv pip install --python /app/.venv/bin/python"
    add = f"{uv} {python.SERVERS['gunicorn']}"
    assert add in lines and lines.index(add) < lines.index("FROM xae/stack-python-3.13:run1")
    assert "xae adds gunicorn" in python.default_reason(tmp_path)


def test_a_declared_server_is_not_added_again(tmp_path: Path) -> None:
    lines = _lines(_write(tmp_path, {"requirements.txt": "flask\ngunicorn\n", "app.py": ""}))
    assert not any("uv pip install" in line for line in lines)


# --- Django ---------------------------------------------------------------------------------

MANAGE = 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n'


def test_django_is_served_by_gunicorn_on_the_project_named_in_manage_py(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "manage.py": MANAGE,
            "requirements.txt": "Django\n",
            "mysite/settings.py": "DEBUG = False\n",
            "mysite/wsgi.py": "application = 1\n",
            "other/wsgi.py": "",
        },
    )
    assert python.default_command(tmp_path) == "gunicorn --bind 0.0.0.0:$PORT mysite.wsgi"
    assert python.default_reason(tmp_path).startswith("detected Django")


def test_django_without_a_settings_hint_uses_the_directory_holding_wsgi_py(tmp_path: Path) -> None:
    _write(
        tmp_path, {"manage.py": "", "requirements.txt": "Django\ngunicorn\n", "proj/wsgi.py": ""}
    )
    assert python.default_command(tmp_path) == "gunicorn --bind 0.0.0.0:$PORT proj.wsgi"


def test_collectstatic_runs_as_the_app_user_only_when_static_root_is_set(tmp_path: Path) -> None:
    files = {"manage.py": MANAGE, "requirements.txt": "Django\n", "mysite/wsgi.py": ""}
    _write(tmp_path, {**files, "mysite/settings.py": "STATIC_URL = 'static/'\n"})
    assert not any("collectstatic" in line for line in _lines(tmp_path))
    _write(tmp_path, {"mysite/settings.py": "STATIC_ROOT = BASE_DIR / 'staticfiles'\n"})
    lines = _lines(tmp_path)
    step = next(i for i, line in enumerate(lines) if "collectstatic --noinput" in line)
    assert [line for line in lines[:step] if line.startswith("USER")][-1] == "USER 10001"
    assert lines.index(COPY_ALL) < step
    assert "SECRET_KEY=xae-build-placeholder" in lines[step]
    assert "exit 1" in lines[step]


# --- web commands ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "command"),
    [
        (
            {
                "pyproject.toml": '[project]\ndependencies = ["fastapi"]\n',
                "main.py": "app = FastAPI()\n",
            },
            "uvicorn --host 0.0.0.0 --port $PORT main:app",
        ),
        (
            {"requirements.txt": "starlette\n", "app/main.py": "app = Starlette()\n"},
            "uvicorn --host 0.0.0.0 --port $PORT app.main:app",
        ),
        (
            {
                "Pipfile": '[packages]\nflask = "*"\n',
                "Pipfile.lock": "{}",
                "app.py": "app = Flask(__name__)\n",
            },
            "gunicorn --bind 0.0.0.0:$PORT app:app",
        ),
        (
            {
                "pyproject.toml": '[tool.poetry.dependencies]\npython = "^3.11"\nFlask = "^3"\n',
                "wsgi.py": "application = x\n",
            },
            "gunicorn --bind 0.0.0.0:$PORT wsgi:application",
        ),
        ({".python-version": "3.13\n", "main.py": "serve()\n"}, "python main.py"),
    ],
)
def test_the_web_command_follows_the_framework(
    tmp_path: Path, files: dict[str, str], command: str
) -> None:
    assert python.default_command(_write(tmp_path, files)) == command

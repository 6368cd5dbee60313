"""The python stack against the real Docker engine, with the sample apps people push: each
builds from what its lock pins (through the proxy to PyPI), serves HTTP as the app user with the
web command xae detected, on the Python it asked for. Needs the stack images
(`python -m xae.builder.images ensure`)."""

from __future__ import annotations

import contextlib
import re
import time
import tomllib
import uuid
from collections.abc import Iterator

import docker
import docker.errors
import httpx
import pytest
from tests.integration.builder.conftest import require_image
from tests.integration.builder.test_builder_images import FIXTURES, Builds

from xae.builder.build import BuiltImage
from xae.builder.images import stack_build_image, stack_image, versions
from xae.builder.jail import remove_plane_jail
from xae.config import Settings
from xae.errors import BuildFailed

pytestmark = pytest.mark.integration

RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def settings(engine: docker.DockerClient) -> Iterator[Settings]:
    settings = Settings(plane=f"itpy-{RUN_ID}")  # its own build network, removed after
    for version in versions("python"):
        for ref in (
            stack_image("python", settings, version.version),
            stack_build_image("python", settings, version.version),
        ):
            require_image(engine, ref)
    yield settings
    remove_plane_jail(engine, settings.plane)


def _serve(builds: Builds, built: BuiltImage, env: dict[str, str] | None = None) -> str:
    """Run the web process as xae does (app user, $PORT, an init) and return GET /'s body."""
    container = builds.client.containers.run(
        built.ref,
        command=["/bin/sh", "-c", built.processes["web"]],
        user="10001:10001",
        environment={"PORT": "5000", **(env or {})},
        init=True,
        detach=True,
        labels={"xae.test": RUN_ID},
    )
    builds.containers.append(container.id)
    container.reload()
    address = container.attrs["NetworkSettings"]["IPAddress"]
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(httpx.TransportError):
            response = httpx.get(f"http://{address}:5000/", timeout=2)
            if response.status_code == 200:
                return response.text
        container.reload()
        if container.status == "exited" or time.monotonic() > deadline:
            logs = container.logs().decode(errors="replace")[-2000:]
            pytest.fail(f"{built.ref} did not serve ({container.status}):\n{logs}")
        time.sleep(0.1)


def _run(builds: Builds, built: BuiltImage, script: str) -> str:
    out = builds.client.containers.run(
        built.ref, ["/bin/sh", "-c", script], user="10001:10001", remove=True
    )
    return bytes(out).decode()


def _installed(builds: Builds, built: BuiltImage) -> set[str]:
    listing = _run(builds, built, "ls /app/.venv/lib/python3*/site-packages")
    return {line.split("-")[0].lower() for line in listing.split() if line.endswith(".dist-info")}


def _web_line(log: list[str]) -> str:
    return next(line for line in log if line.startswith("-----> web: "))


def _name(kind: str) -> str:
    return f"itpy-{kind}-{RUN_ID}"


def test_pipfile_app_installs_the_hashes_its_lock_pins(builds: Builds) -> None:
    built, log, seconds = builds.build(builds.source("py-pipfile"), _name("pipfile"))
    print(f"pipfile build: {seconds:.1f}s")
    assert "-----> python 3.11 (Pipfile asks for ==3.11.*; offered: 3.11, 3.13)" in log
    assert any("--require-hashes" in line for line in log)
    assert _web_line(log).startswith("-----> web: gunicorn --bind 0.0.0.0:$PORT app:app (")
    assert 'override with a Procfile line "web: ..."' in _web_line(log)
    locked = (FIXTURES / "py-pipfile" / "Pipfile.lock").read_text()
    version = re.search(r'"gunicorn": \{[^}]*"version": "==([^"]+)"', locked)
    assert version is not None
    assert _serve(builds, built) == f"pipfile app, gunicorn {version.group(1)}\n"
    assert "pytest" not in _installed(builds, built), "dev-packages stay out"


def _locked_version(lock: str, package: str) -> str:
    data = tomllib.loads((FIXTURES / lock).read_text())
    return next(str(p["version"]) for p in data["package"] if p["name"] == package)


def test_poetry_flask_app_installs_its_lock_and_gets_gunicorn_added(builds: Builds) -> None:
    built, log, seconds = builds.build(builds.source("py-poetry"), _name("poetry"))
    print(f"poetry build: {seconds:.1f}s")
    assert any("poetry sync --only main --no-root" in line for line in log)
    web = _web_line(log)
    assert "gunicorn --bind 0.0.0.0:$PORT app:app (detected Flask; xae adds gunicorn==" in web
    flask = _locked_version("py-poetry/poetry.lock", "flask")
    assert _serve(builds, built) == f"poetry app, flask {flask}\n"
    assert "pytest" not in _installed(builds, built), "the dev group stays out"


def test_uv_fastapi_app_installs_its_lock_and_is_served_by_uvicorn(builds: Builds) -> None:
    built, log, seconds = builds.build(builds.source("py-uv"), _name("uv"))
    print(f"uv build: {seconds:.1f}s")
    # requires-python ">=3.11": the newest offered version that satisfies it.
    assert any(line.startswith("-----> python 3.13 (pyproject.toml [project]") for line in log)
    assert built.processes == {"web": "uvicorn --host 0.0.0.0 --port $PORT main:app"}
    assert "(detected FastAPI;" in _web_line(log)
    fastapi = _locked_version("py-uv/uv.lock", "fastapi")
    assert _serve(builds, built) == f"uv app, fastapi {fastapi}\n"
    assert "pytest" not in _installed(builds, built), "the dev group stays out"


def test_a_lock_out_of_date_with_its_manifest_fails_the_build_clearly(builds: Builds) -> None:
    src = builds.source("py-uv", "uv-stale")
    pyproject = src / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('"uvicorn==0.34.*"', '"uvicorn==0.34.*", "six"')
    )
    with pytest.raises(BuildFailed) as raised:
        builds.build(src, _name("stale"))
    assert "uv.lock" in raised.value.message and "needs to be updated" in raised.value.message


def test_django_app_collects_static_files_and_is_served_by_gunicorn(builds: Builds) -> None:
    built, log, seconds = builds.build(builds.source("py-django"), _name("django"))
    print(f"django build: {seconds:.1f}s")
    assert built.processes == {"web": "gunicorn --bind 0.0.0.0:$PORT shop.wsgi"}
    assert "(detected Django; xae adds gunicorn==" in _web_line(log)
    assert any("static file" in line and "copied" in line for line in log)
    body = _serve(builds, built, {"SECRET_KEY": "a-runtime-secret"})
    assert body == "django shop, collected ['site.css']\n"


def test_a_failing_collectstatic_stops_the_build_with_a_clear_message(builds: Builds) -> None:
    src = builds.source("py-django", "django-broken")
    settings = src / "shop" / "settings.py"
    settings.write_text(settings.read_text() + "\nimport no_such_module_here\n")
    with pytest.raises(BuildFailed) as raised:
        builds.build(src, _name("djbroken"))
    assert "`python manage.py collectstatic --noinput` failed" in raised.value.message


def test_a_python_version_file_alone_builds_on_that_python(builds: Builds) -> None:
    built, log, seconds = builds.build(builds.source("py-version"), _name("version"))
    print(f".python-version build: {seconds:.1f}s")
    assert "-----> python 3.13 (.python-version asks for ==3.13.*; offered: 3.11, 3.13)" in log
    assert built.processes == {"web": "python main.py"}
    assert _serve(builds, built).startswith("python 3.13.")


def test_a_c_extension_builds_from_source_and_the_run_image_stays_slim(builds: Builds) -> None:
    built, _, seconds = builds.build(builds.source("py-native"), _name("native"))
    print(f"native build: {seconds:.1f}s")
    # psycopg2 publishes no Linux wheels: it was compiled here, against libpq.
    linked = _run(builds, built, "ldd /app/.venv/lib/python3*/site-packages/psycopg2/_psycopg*.so")
    assert "libpq.so.5 => /" in linked
    assert _serve(builds, built).startswith("native app, psycopg2 2.9.10 libpq ")
    assert _run(builds, built, "command -v gcc cc pg_config || echo none").strip() == "none"


def test_a_code_only_rebuild_of_a_locked_app_reuses_every_dependency_layer(
    builds: Builds,
) -> None:
    app = _name("warm")
    src = builds.source("py-uv", "uv-warm")
    first, _, cold = builds.build(src, app, "v1")
    main = src / "main.py"
    main.write_text(main.read_text().replace("uv app,", "uv app again,"))
    second, log, warm = builds.build(src, app, "v2")
    print(f"uv app: first build {cold:.2f}s, after editing main.py {warm:.2f}s")
    layers = [builds.client.images.get(b.ref).attrs["RootFS"]["Layers"] for b in (first, second)]
    assert layers[0][:-1] == layers[1][:-1], "only the code layer may differ"
    sync = next(i for i, line in enumerate(log) if "uv sync" in line)
    assert log[sync + 1].strip() == "---> Using cache"
    assert warm < 5, f"a code-only rebuild took {warm:.1f}s (target 2 s)"
    assert _serve(builds, second).startswith("uv app again,")

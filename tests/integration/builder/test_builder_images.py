"""build_image against the real Docker engine: each stack builds, the image really serves HTTP
as the unprivileged app user, failures carry the log, and a code-only rebuild reuses the
dependency layer. Needs the stack images (`python -m xae.builder.images ensure`)."""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import httpx
import pytest

from xae.builder.build import BuiltImage, build_image
from xae.builder.images import STACKS, stack_image
from xae.builder.jail import remove_plane_jail
from xae.config import Settings
from xae.errors import BuildFailed

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[2] / "fixtures" / "apps"
RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def client(engine: docker.DockerClient) -> docker.DockerClient:
    return engine


@pytest.fixture(scope="module")
def settings(client: docker.DockerClient) -> Iterator[Settings]:
    settings = Settings(plane=f"itimg-{RUN_ID}")  # its own build network, removed after
    for stack in STACKS:
        ref = stack_image(stack, settings)
        try:
            client.images.get(ref)
        except docker.errors.ImageNotFound:
            pytest.fail(f"{ref} is missing: run `python -m xae.builder.images ensure` first")
    yield settings
    remove_plane_jail(client, settings.plane)


class Builds:
    """Builds fixture apps under unique names and removes every image and container after."""

    def __init__(self, client: docker.DockerClient, settings: Settings, root: Path) -> None:
        self.client = client
        self.settings = settings
        self.root = root
        self.refs: list[str] = []
        self.containers: list[str] = []

    def source(self, fixture: str, name: str | None = None) -> Path:
        src = self.root / (name or fixture)
        shutil.copytree(FIXTURES / fixture, src)
        return src

    def build(self, src: Path, app: str, tag: str = "v1") -> tuple[BuiltImage, list[str], float]:
        log: list[str] = []
        self.refs.append(f"xae/app-{app}:{tag}")
        started = time.monotonic()
        built = build_image(
            self.client, src, app=app, tag=tag, settings=self.settings, log=log.append
        )
        return built, log, time.monotonic() - started

    def serve(self, built: BuiltImage, *, port: int = 5000, greeting: str = "hi") -> str:
        """Run the web process like xae does and return the body of GET /."""
        command = built.processes["web"]
        container = self.client.containers.run(
            built.ref,
            command=["/bin/sh", "-c", command] if command else None,
            user="10001:10001",
            environment={"PORT": str(port), "GREETING": greeting},
            init=True,
            detach=True,
            labels={"xae.test": RUN_ID},
        )
        self.containers.append(container.id)
        container.reload()
        address = container.attrs["NetworkSettings"]["IPAddress"]
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://{address}:{port}/", timeout=2)
                if response.status_code == 200:
                    return response.text
            except httpx.TransportError:
                pass
            container.reload()
            if container.status == "exited" or time.monotonic() > deadline:
                logs = container.logs().decode(errors="replace")[-2000:]
                pytest.fail(
                    f"{built.ref} did not serve on port {port} ({container.status}):\n{logs}"
                )
            time.sleep(0.1)

    def cleanup(self) -> None:
        for cid in self.containers:
            with contextlib.suppress(docker.errors.NotFound):  # already gone is fine
                self.client.containers.get(cid).remove(force=True)
        for ref in self.refs:
            with contextlib.suppress(docker.errors.ImageNotFound):  # a failed build tags nothing
                self.client.images.remove(ref, force=True)


@pytest.fixture(scope="module")
def builds(
    client: docker.DockerClient, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Builds]:
    builds = Builds(client, settings, tmp_path_factory.mktemp("builds"))
    yield builds
    builds.cleanup()


def _app_name(kind: str) -> str:
    return f"it-{kind}-{RUN_ID}"


def _assert_serves(body: str, greeting: str) -> None:
    assert body.startswith("hello from ")
    assert f"greeting={greeting}" in body


def test_flask_app_builds_through_the_proxy_and_serves(builds: Builds) -> None:
    built, log, seconds = builds.build(builds.source("flask"), _app_name("flask"))
    print(f"flask build: {seconds:.1f}s")
    assert built.stack == "python"
    assert built.processes == {"web": "gunicorn --bind 0.0.0.0:$PORT app:app"}
    assert built.port is None
    assert any("Successfully installed" in line and "flask" in line.lower() for line in log) or any(
        "Using cache" in line for line in log
    )
    image = builds.client.images.get(built.ref)
    assert image.id == built.image_id
    assert image.labels["xae.app"] == _app_name("flask")
    assert image.attrs["Config"]["User"] == "10001"
    _assert_serves(builds.serve(built, greeting="from-flask"), "from-flask")


def test_code_only_rebuild_reuses_the_dependency_layer(builds: Builds) -> None:
    app = _app_name("warm")
    src = builds.source("flask", "warm")
    first, _, cold = builds.build(src, app, "v1")
    app_py = src / "app.py"
    app_py.write_text(app_py.read_text().replace("hello from", "hello again from"))
    second, log, warm = builds.build(src, app, "v2")
    print(f"python build: first {cold:.2f}s, after editing app.py {warm:.2f}s")

    layers = [builds.client.images.get(b.ref).attrs["RootFS"]["Layers"] for b in (first, second)]
    assert layers[0][:-1] == layers[1][:-1], "only the code layer may differ"
    assert layers[0][-1] != layers[1][-1]
    pip_step = next(i for i, line in enumerate(log) if "pip install" in line)
    assert log[pip_step + 1].strip() == "---> Using cache"
    assert warm < 10, f"a code-only rebuild took {warm:.1f}s"
    assert builds.serve(second).startswith("hello again from ")


def test_express_app_with_a_lockfile_builds_with_npm_ci_and_serves(builds: Builds) -> None:
    built, log, seconds = builds.build(builds.source("express"), _app_name("express"))
    print(f"express build: {seconds:.1f}s")
    assert built.stack == "node"
    assert built.processes == {"web": "npm start"}
    assert any("npm ci" in line for line in log)
    _assert_serves(builds.serve(built, greeting="from-express"), "from-express")


def test_static_site_builds_and_serves_index_html(builds: Builds) -> None:
    src = builds.source("static")
    for name in (".env", ".xaeignore"):
        (src / name).write_text("not for the public\n")
    # Valid manifests (a build reads them), private all the same.
    (src / "app.json").write_text('{"description": "not for the public"}\n')
    (src / "xae.yaml").write_text("# not for the public\nhealthcheck:\n  path: /\n")
    (src / ".well-known").mkdir()
    (src / ".well-known" / "security.txt").write_text("Contact: mailto:x@example.com\n")
    built, _, seconds = builds.build(src, _app_name("static"))
    print(f"static build: {seconds:.1f}s")
    assert built.stack == "static"
    assert built.processes == {"web": "serve-static"}
    body = builds.serve(built)
    assert body == (FIXTURES / "static" / "index.html").read_text()
    # Configuration and xae's own files stay out of the public image; .well-known stays in.
    listing = builds.client.containers.run(built.ref, ["ls", "-A", "/app"], remove=True)
    assert listing.decode().split() == [".well-known", "index.html"]
    assert list(src.iterdir()) and not (src / ".xae.Dockerfile").exists()


def test_dockerfile_app_runs_its_own_cmd_on_its_exposed_port(builds: Builds) -> None:
    built, _, seconds = builds.build(builds.source("dockerfile"), _app_name("docker"))
    print(f"dockerfile build: {seconds:.1f}s")
    assert built.stack == "dockerfile"
    assert built.processes == {"web": ""}
    assert built.port == 8000
    _assert_serves(builds.serve(built, port=8000, greeting="from-docker"), "from-docker")


def test_failing_pip_install_is_build_failed_with_the_log_and_tags_nothing(
    builds: Builds,
) -> None:
    src = builds.source("flask", "broken")
    (src / "requirements.txt").write_text("xae-no-such-package-7f3a9c==1.0\n")
    app = _app_name("broken")
    log: list[str] = []
    with pytest.raises(BuildFailed) as raised:
        build_image(builds.client, src, app=app, tag="v1", settings=builds.settings, log=log.append)
    message = raised.value.message
    assert "xae-no-such-package-7f3a9c" in message
    assert "non-zero code" in message
    assert any("No matching distribution" in line for line in log)
    with pytest.raises(docker.errors.ImageNotFound):
        builds.client.images.get(f"xae/app-{app}:v1")


def test_a_broken_dockerfile_is_build_failed(builds: Builds, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Dockerfile").write_text("FROM xae/base\nNOTANINSTRUCTION foo\n")
    app = _app_name("baddocker")
    with pytest.raises(BuildFailed, match="(?i)unknown instruction"):
        build_image(
            builds.client, src, app=app, tag="v1", settings=builds.settings, log=lambda line: None
        )
    with pytest.raises(docker.errors.ImageNotFound):
        builds.client.images.get(f"xae/app-{app}:v1")


def test_the_static_stack_nginx_refuses_dotfiles_and_xae_files(
    builds: Builds, tmp_path: Path
) -> None:
    # Even when such files are in the image (a hand-made image on the stack, or a nested
    # dotfile the build keeps), the stack's nginx answers 404 for them.
    src = tmp_path / "site"
    shutil.copytree(FIXTURES / "static", src)
    hidden = (
        "/.env",
        "/.dockerignore",
        "/.xaeignore",
        "/Procfile",
        "/app.json",
        "/xae.yaml",
        "/xae.yml",
        "/sub/.env",
        "/.git/config",
        "/.well-known/.hidden",
    )
    for path in hidden:
        (src / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (src / path.lstrip("/")).write_text("not-for-the-public\n")
    (src / ".well-known" / "security.txt").write_text("Contact: mailto:x@example.com\n")
    (src / "Dockerfile").write_text(
        f"FROM {stack_image('static', builds.settings)}\nCOPY . /app\nUSER 10001\n"
    )
    ref = f"xae/app-{_app_name('nginx')}:v1"
    builds.refs.append(ref)
    builds.client.images.build(path=str(src), tag=ref, rm=True, forcerm=True)
    built = BuiltImage(
        image_id="", ref=ref, stack="static", processes={"web": "serve-static"}, port=None
    )
    assert builds.serve(built).startswith("<")
    container = builds.client.containers.get(builds.containers[-1])
    address = container.attrs["NetworkSettings"]["IPAddress"]
    for path in hidden:
        response = httpx.get(f"http://{address}:5000{path}", timeout=5)
        assert response.status_code == 404, path
        assert "not-for-the-public" not in response.text, path
    response = httpx.get(f"http://{address}:5000/.well-known/security.txt", timeout=5)
    assert response.status_code == 200
    assert response.text == "Contact: mailto:x@example.com\n"

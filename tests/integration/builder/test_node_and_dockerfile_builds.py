"""The node stack and Dockerfile options against the real Docker engine, with real sample apps.

Each Node sample app (tests/fixtures/apps/node-*, lockfiles made by the real tools) builds
confined like every build, then really serves HTTP as the app user and reports the Node version
it runs on. Dockerfile apps: BuildKit syntax built by the confined classic builder, a Dockerfile
in deploy/, EXPOSE as the port, the image's CMD kept as `web`, and `FROM` through a registry
mirror (a real registry process started here). Needs the stack images (`make up`).
"""

from __future__ import annotations

import contextlib
import re
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from tests.integration.builder.conftest import require_image
from tests.integration.builder.test_builder_images import Builds

from xae.builder import node_images, node_versions
from xae.builder.build import build_image
from xae.builder.jail import remove_plane_jail
from xae.config import Settings

pytestmark = pytest.mark.integration

RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def settings(engine: docker.DockerClient) -> Iterator[Settings]:
    settings = Settings(plane=f"itnode-{RUN_ID}")  # its own build network, removed after
    for runtime in node_versions.RUNTIMES:
        ref = node_images.image_for(runtime, settings)
        require_image(engine, ref)
    yield settings
    remove_plane_jail(engine, settings.plane)


def _app(kind: str) -> str:
    return f"itn-{kind}-{RUN_ID}"


def _run(builds: Builds, ref: str, *command: str) -> str:
    out = builds.client.containers.run(
        ref, list(command), user="10001:10001", remove=True, network_mode="none"
    )
    return bytes(out).decode().strip()


@pytest.mark.parametrize(
    ("fixture", "installs"),
    [
        ("node-yarn", "yarn install --frozen-lockfile"),
        ("node-pnpm", "pnpm install --frozen-lockfile"),
        ("node-corepack", "yarn workspaces focus --all --production"),
    ],
)
def test_each_package_manager_installs_from_its_lockfile_and_the_app_serves(
    builds: Builds, fixture: str, installs: str
) -> None:
    built, log, seconds = builds.build(builds.source(fixture), _app(fixture[5:]))
    print(f"{fixture} build: {seconds:.1f}s")
    assert built.stack == "node"
    assert any(line.startswith("-----> installing with") and installs in line for line in log)
    assert not any(re.search(r"\bnpm (install|ci)\b", line) for line in log)
    body = builds.serve(built, greeting=fixture)
    assert f"greeting={fixture}" in body and "node=v24.22.3" in body
    if fixture == "node-corepack":
        # The exact Yarn packageManager pins, offline: corepack keeps it in the image.
        assert _run(builds, built.ref, "yarn", "--version") == "4.18.1"


def test_engines_node_chooses_the_runtime_and_node_version_file_another(builds: Builds) -> None:
    built, log, _ = builds.build(builds.source("node-engines"), _app("engines"))
    assert any("Node.js 24.22.3 (engines.node '>=20'" in line for line in log)
    assert "node=v24.22.3" in builds.serve(built)
    src = builds.source("node-engines", "engines20")
    package = src / "package.json"
    package.write_text(package.read_text().replace('">=20"', '"20.x"'))
    built20, _, _ = builds.build(src, _app("engines20"))
    assert _run(builds, built20.ref, "node", "--version") == "v20.20.2"


def test_typescript_builds_with_dev_dependencies_ships_without_them_and_rebuilds_warm(
    builds: Builds,
) -> None:
    app = _app("ts")
    src = builds.source("node-typescript")
    first, log, cold = builds.build(src, app, "v1")
    assert any("build step: npm run build" in line for line in log)
    assert "typescript" in builds.serve(first)
    # The compiler was there for the build, and is not in the image that runs.
    assert _run(builds, first.ref, "sh", "-c", "test -e dist/server.js && echo built") == "built"
    gone = _run(builds, first.ref, "sh", "-c", "test -e node_modules/typescript || echo pruned")
    assert gone == "pruned"

    server = src / "src" / "server.ts"
    # A change no earlier run made, so the build step really runs again.
    server.write_text(server.read_text().replace("typescript\\n", f"typescript {RUN_ID}\\n"))
    second, log2, warm = builds.build(src, app, "v2")
    print(f"typescript build: cold {cold:.1f}s, after editing src/server.ts {warm:.2f}s")
    install = next(i for i, line in enumerate(log2) if "RUN npm ci --include=dev" in line)
    assert log2[install + 1].strip() == "---> Using cache"
    assert f"typescript {RUN_ID}" in builds.serve(second)


def test_a_code_only_change_to_the_express_app_reuses_the_install(builds: Builds) -> None:
    app = _app("warm")
    src = builds.source("express", "warm-express")
    builds.build(src, app, "v1")
    server = src / "server.js"
    server.write_text(server.read_text().replace("hello from", f"hello {RUN_ID} from"))
    second, log, warm = builds.build(src, app, "v2")
    print(f"express code-only rebuild: {warm:.2f}s")
    install = next(i for i, line in enumerate(log) if "RUN npm ci" in line)
    assert log[install + 1].strip() == "---> Using cache"
    assert builds.serve(second).startswith(f"hello {RUN_ID} from ")
    assert warm < 5, f"a code-only rebuild took {warm:.1f}s"


def test_a_buildkit_dockerfile_builds_confined_without_its_cache_mount(builds: Builds) -> None:
    built, log, _ = builds.build(builds.source("dockerfile-buildkit"), _app("bk"))
    assert built.stack == "dockerfile"
    assert any("ignoring `# syntax=docker/dockerfile:1.7`" in line for line in log)
    assert any("RUN --mount=type=cache dropped" in line for line in log)
    assert built.port == 8000
    assert built.processes == {"web": ""}
    assert "node=v18" in builds.serve(built, port=8000)


def test_a_dockerfile_in_deploy_is_built_with_its_expose_and_cmd_as_web(builds: Builds) -> None:
    src = builds.source("dockerfile-path")
    app = _app("dpath")
    log: list[str] = []
    builds.refs.append(f"xae/app-{app}:v1")
    built = build_image(
        builds.client,
        src,
        app=app,
        tag="v1",
        settings=builds.settings,
        log=log.append,
        dockerfile_path="deploy/Dockerfile",
    )
    assert built.stack == "dockerfile", "the path wins over the package.json at the top"
    assert "-----> building with deploy/Dockerfile" in log
    assert built.port == 8080
    # The Procfile has only a worker: the image's CMD stays the web process.
    assert built.processes == {"web": "", "worker": 'python3 -c "import time; time.sleep(3600)"'}
    assert builds.serve(built, port=8080).startswith("hello from ")


# --- FROM through a registry mirror -----------------------------------------------------------


@pytest.fixture
def mirror(registry: str) -> str:
    """The registry the builds' `FROM` lines are pulled through (the builder conftest's)."""
    return registry


def test_from_a_docker_hub_name_is_pulled_through_the_registry_mirror(
    builds: Builds, mirror: str, tmp_path: Path
) -> None:
    # A tiny image exists only in the mirror, as Docker Hub's `library/<name>` would.
    name = f"xae-mirror-probe-{RUN_ID}"
    in_mirror = f"{mirror}/library/{name}:1"
    layer = tmp_path / "layer.tar"
    marker = tmp_path / "marker.txt"
    marker.write_text("from the mirror\n")
    with tarfile.open(layer, "w") as tar:
        tar.add(marker, arcname="marker.txt")
    builds.client.api.import_image_from_file(
        str(layer), repository=in_mirror.rsplit(":", 1)[0], tag="1"
    )
    try:
        for chunk in builds.client.images.push(in_mirror, stream=True, decode=True):
            assert "error" not in chunk, chunk
        builds.client.images.remove(in_mirror, force=True)

        src = tmp_path / "app"
        src.mkdir()
        (src / "Dockerfile").write_text(f"FROM {name}:1\nCOPY app.txt /app.txt\n")
        (src / "app.txt").write_text("the app\n")
        mirrored = builds.settings.model_copy(update={"build_registry_mirror": mirror})
        app = _app("mirror")
        builds.refs.append(f"xae/app-{app}:v1")
        log: list[str] = []
        built = build_image(
            builds.client, src, app=app, tag="v1", settings=mirrored, log=log.append
        )
        assert any(f"pulled through the registry mirror as {in_mirror}" in line for line in log)
        layers = builds.client.images.get(built.ref).attrs["RootFS"]["Layers"]
        assert layers[0] == builds.client.images.get(in_mirror).attrs["RootFS"]["Layers"][0]
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            builds.client.images.remove(in_mirror, force=True)

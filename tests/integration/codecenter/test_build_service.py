"""The build service's stop paths on real builds: the deploy pipeline (on a fake runtime, so
only the build is real) runs a Dockerfile whose step would sleep for ten minutes, on the real
engine inside the real build jail. A build that overruns its timeout ends `timed_out` with its
log kept; a running build that is cancelled ends `cancelled`; neither leaves a step container,
an image or a release behind."""

from __future__ import annotations

import io
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from sqlalchemy import select
from tests.unit.fakes import World, make_db_template, make_world

from xae.builder.jail import remove_plane_jail
from xae.codecenter.builds import build_service, cancel_build
from xae.codecenter.deploy import DeployPipeline
from xae.control.apps import create_app, get_app
from xae.errors import BuildCancelled, BuildTimedOut
from xae.store.models import App, Build, Release

pytestmark = pytest.mark.integration
RUN_ID = uuid.uuid4().hex[:8]
PLANE = f"itbq-{RUN_ID}"


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env(version="auto")
        client.ping()
    except docker.errors.DockerException as e:
        pytest.fail(f"the Docker engine is not reachable ({e}): `make test` starts dockerd")
    yield client
    remove_plane_jail(client, PLANE)
    client.close()


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[World]:
    world = make_world(make_db_template(tmp_path_factory), tmp_path)
    world.platform.settings = world.platform.settings.model_copy(
        update={"plane": PLANE, "build_timeout": 6.0}
    )
    yield world
    world.platform.docker.close()
    world.db.engine.dispose()


def sleepy_source(marker: str) -> io.BytesIO:
    dockerfile = f"FROM xae/base\nRUN echo started-{marker} && sleep 600\n".encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    buffer.seek(0)
    return buffer


def steps_of(engine: docker.DockerClient, marker: str) -> list[str]:
    return [
        c.id
        for c in engine.containers.list(all=True)
        if marker in " ".join(c.attrs["Config"].get("Cmd") or [])
    ]


def the_app(world: World, name: str) -> App:
    create_app(world.platform, world.user("alice"), name)
    with world.db.session() as session:
        return get_app(session, name)


def only_build(world: World) -> Build:
    with world.db.session() as session:
        [build] = session.scalars(select(Build))
        assert list(session.scalars(select(Release))) == []
        session.expunge(build)
        return build


def assert_nothing_left(engine: docker.DockerClient, marker: str, app: str) -> None:
    assert steps_of(engine, marker) == [], "the step's container was killed and removed"
    assert not [i for i in engine.images.list() if any(app in t for t in i.tags)]


def test_a_build_that_overruns_its_timeout_ends_timed_out_with_its_log(
    world: World, engine: docker.DockerClient
) -> None:
    marker = f"slow-{RUN_ID}"
    app = the_app(world, f"slow-{RUN_ID}")
    started = time.monotonic()
    with pytest.raises(BuildTimedOut, match="timed out after 6 s and was stopped"):
        DeployPipeline(world.platform).run(world.user(), app, sleepy_source(marker), lambda _: None)
    assert time.monotonic() - started < 6 + 40

    build = only_build(world)
    assert build.status == "timed_out"
    assert f"started-{marker}" in build.log
    assert build.log.endswith(f"the build of {app.name} timed out after 6 s and was stopped")
    assert_nothing_left(engine, marker, app.name)


def test_a_running_build_that_is_cancelled_ends_cancelled_and_leaves_nothing(
    world: World, engine: docker.DockerClient
) -> None:
    world.platform.settings = world.platform.settings.model_copy(update={"build_timeout": 300.0})
    marker = f"cancel-{RUN_ID}"
    app = the_app(world, f"cancel-{RUN_ID}")
    raised: list[BaseException] = []

    def deploy() -> None:
        try:
            DeployPipeline(world.platform).run(
                world.user(), app, sleepy_source(marker), lambda _: None
            )
        except BaseException as e:  # the test checks it below
            raised.append(e)

    thread = threading.Thread(target=deploy, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not steps_of(engine, marker):
        assert time.monotonic() < deadline, "the build step never started"
        time.sleep(0.2)

    started = time.monotonic()
    message = cancel_build(world.platform, world.user(), app, 1)
    thread.join(60)

    assert message == f"build 1 of {app.name} was cancelled and stopped"
    assert time.monotonic() - started < 40
    assert [type(e) for e in raised] == [BuildCancelled]
    build = only_build(world)
    assert build.status == "cancelled"
    assert f"started-{marker}" in build.log
    assert_nothing_left(engine, marker, app.name)
    assert build_service(world.platform).queue.snapshot() == []

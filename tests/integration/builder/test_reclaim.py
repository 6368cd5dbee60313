"""Garbage collection on the real Docker engine (and the real local registry): a busy app keeps
exactly its newest N images, a dry run removes nothing, a rollback to a collected release
fails clearly, the plane's leftovers go and nothing of another plane does, images pulled for
image deploys go once no kept release runs them, and the disk usage `xae status` shows is real.
The control plane around the engine is the unit tests' fakes (no app container runs): what is
collected is decided from the store, removed on the engine."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import httpx
import pytest
from tests.unit.fakes import (
    FakeHealth,
    FakeRouter,
    FakeRuntime,
    World,
    copy_db,
    deploy,
    make_db_template,
    make_platform,
    make_settings,
)

from xae.auth.policy import Principal
from xae.builder.reclaim import DockerReclaimer
from xae.control.apps import create_app
from xae.control.gc import collect, disk_usage
from xae.control.releases import rollback
from xae.domain.gc import pulled_marker
from xae.domain.policy import LABEL_APP, LABEL_MANAGED, LABEL_ONEOFF, LABEL_PLANE
from xae.errors import ImageCollected
from xae.runtime.docker.backend import DockerRuntime

pytestmark = pytest.mark.integration

RUN_ID = uuid.uuid4().hex[:6]
BASE = "xae/rootfs:bookworm"
REGISTRY = "127.0.0.1:5000"


def tiny_image(client: docker.DockerClient, ref: str, labels: dict[str, str], n: str) -> None:
    """An image of its own (one small file layer on the rootfs), labelled as xae's builds are."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", f"FROM {BASE}\nCOPY n /n\n"), ("n", n * 2000)):
            info = tarfile.TarInfo(name)
            info.size = len(data.encode())
            tar.addfile(info, io.BytesIO(data.encode()))
    buf.seek(0)
    client.images.build(fileobj=buf, custom_context=True, tag=ref, labels=labels, rm=True)


def plane_images(client: docker.DockerClient, plane: str, app: str) -> list[str]:
    images = client.images.list(filters={"label": [f"{LABEL_PLANE}={plane}", f"{LABEL_APP}={app}"]})
    return sorted(tag for image in images for tag in image.tags)


@pytest.fixture(scope="module")
def base(engine: docker.DockerClient) -> None:
    try:
        engine.images.get(BASE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{BASE} is missing: run `python -m xae.builder.images ensure` first")


@pytest.fixture
def world(
    engine: docker.DockerClient,
    base: None,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    plane = f"itgc{RUN_ID}"
    settings = make_settings(tmp_path / "state", plane=plane, keep_release_images=3)
    settings.state_dir.mkdir(mode=0o700, parents=True)
    runtime, router = FakeRuntime(), FakeRouter()
    health = FakeHealth(runtime)
    db = copy_db(make_db_template(tmp_path_factory), tmp_path)
    platform = make_platform(settings, db, runtime, router, health)
    platform.reclaimer = DockerReclaimer(engine, plane, settings.registry)
    yield World(platform, runtime, router, runtime.events, health)
    db.engine.dispose()
    for p in (plane, f"other{RUN_ID}"):
        for image in engine.images.list(filters={"label": f"{LABEL_PLANE}={p}"}):
            engine.images.remove(image.id, force=True)
        for c in engine.containers.list(all=True, filters={"label": f"{LABEL_PLANE}={p}"}):
            c.remove(force=True)


def deploy_images(world: World, engine: docker.DockerClient, app: str, count: int) -> None:
    plane = world.platform.settings.plane
    for n in range(1, count + 1):
        ref = f"xae/app-{app}:b{n}"
        tiny_image(engine, ref, {LABEL_APP: app, LABEL_PLANE: plane}, f"{n}")
        deploy(world.platform, app, ref)


def test_eight_deploys_with_keep_three_leave_exactly_three_images_on_the_engine(
    world: World, engine: docker.DockerClient
) -> None:
    alice: Principal = world.user("alice")
    plane = world.platform.settings.plane
    create_app(world.platform, alice, "busy")
    # Another plane's image of an app with the same name: never this plane's to collect.
    tiny_image(
        engine, "xae/app-busy:other", {LABEL_APP: "busy", LABEL_PLANE: f"other{RUN_ID}"}, "o"
    )
    deploy_images(world, engine, "busy", 8)
    assert len(plane_images(engine, plane, "busy")) == 8

    dry = collect(world.platform, alice, app="busy", dry_run=True)
    assert sorted(dry.images) == [f"xae/app-busy:b{n}" for n in range(1, 6)]
    assert dry.estimated_bytes > 0
    assert len(plane_images(engine, plane, "busy")) == 8  # the dry run removed nothing

    collect(world.platform, alice, app="busy")
    assert plane_images(engine, plane, "busy") == [f"xae/app-busy:b{n}" for n in (6, 7, 8)]
    assert plane_images(engine, f"other{RUN_ID}", "busy") == ["xae/app-busy:other"]

    with pytest.raises(ImageCollected, match="the image of v2 was garbage-collected"):
        rollback(world.platform, alice, "busy", 2)
    assert rollback(world.platform, alice, "busy", 6) == (6, 9)


def test_the_planes_stopped_containers_and_dangling_images_go_and_no_one_elses(
    world: World, engine: docker.DockerClient
) -> None:
    alice: Principal = world.user("alice")
    plane = world.platform.settings.plane
    world.platform.settings.gc_container_age = 0
    create_app(world.platform, alice, "live")
    mine = {LABEL_MANAGED: "1", LABEL_PLANE: plane, LABEL_APP: "gone"}
    theirs = {LABEL_MANAGED: "1", LABEL_PLANE: f"other{RUN_ID}", LABEL_APP: "gone"}
    live = {LABEL_MANAGED: "1", LABEL_PLANE: plane, LABEL_APP: "live"}
    stopped = engine.containers.create(BASE, ["true"], labels=mine)
    kept = engine.containers.create(BASE, ["true"], labels=theirs)
    # A live app's finished one-off goes; its stopped instance (crashed or OOM-killed, waiting
    # for the engine to restart it) stays, with the log that says why it stopped.
    oneoff = engine.containers.create(BASE, ["true"], labels={**live, LABEL_ONEOFF: "run"})
    instance = engine.containers.create(BASE, ["true"], labels=live)
    # Building a tag twice leaves the first image dangling (untagged), still labelled.
    tiny_image(engine, f"xae/app-gone:{RUN_ID}", {LABEL_APP: "gone", LABEL_PLANE: plane}, "a")
    first = engine.images.get(f"xae/app-gone:{RUN_ID}").id
    tiny_image(engine, f"xae/app-gone:{RUN_ID}", {LABEL_APP: "gone", LABEL_PLANE: plane}, "b")
    dry = collect(world.platform, alice, dry_run=True)
    assert stopped.name in dry.containers and kept.name not in dry.containers
    assert dry.dangling >= 1 and f"xae/app-gone:{RUN_ID}" in dry.images
    engine.containers.get(stopped.id)  # still there after the dry run

    done = collect(world.platform, alice)
    assert stopped.name in done.containers and oneoff.name in done.containers
    for gone in (stopped, oneoff):
        with pytest.raises(docker.errors.NotFound):
            engine.containers.get(gone.id)
    engine.containers.get(kept.id)  # another plane's
    assert instance.name not in done.containers
    engine.containers.get(instance.id)  # still there (the fixture's teardown removes it)
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get(first)
    assert plane_images(engine, plane, "gone") == []  # its app does not exist: an orphan


def test_old_temporary_build_dirs_go_and_fresh_ones_stay(world: World) -> None:
    alice: Principal = world.user("alice")
    create_app(world.platform, alice, "shop")
    root = world.platform.settings.builds_dir
    old, fresh = root / "shop" / "shop-old", root / "shop" / "shop-fresh"
    for d in (old, fresh):
        (d / "src").mkdir(parents=True)
        (d / "src" / "app.py").write_text("print('hi')\n")
    os.utime(old, (0, 0))
    done = collect(world.platform, alice)
    assert "shop/shop-old" in done.build_dirs
    assert not old.exists() and fresh.exists()


def test_the_disk_usage_is_real(world: World, engine: docker.DockerClient) -> None:
    alice: Principal = world.user("alice")
    plane = world.platform.settings.plane
    create_app(world.platform, alice, "shop")
    deploy_images(world, engine, "shop", 1)
    container = engine.containers.run(
        BASE,
        ["sh", "-c", "for i in $(seq 200); do echo line $i of the log; done"],
        labels={LABEL_MANAGED: "1", LABEL_PLANE: plane, LABEL_APP: "shop"},
        detach=True,
    )
    container.wait(timeout=30)
    build = world.platform.settings.builds_dir / "shop" / "shop-x"
    build.mkdir(parents=True)
    (build / "blob").write_bytes(b"x" * 100_000)
    repos = world.platform.settings.state_dir / "repos" / "shop.git"
    repos.mkdir(parents=True)
    (repos / "pack").write_bytes(b"y" * 50_000)
    usage = disk_usage(world.platform)
    rootfs = engine.images.get(BASE).attrs["Size"]
    assert rootfs <= usage.images < 10 * rootfs  # the base once, plus a few KB per app image
    assert usage.builds >= 100_000
    assert usage.logs >= 200 * len("line 1 of the log")
    assert usage.repositories >= 50_000


def test_a_collected_tag_is_deleted_from_the_real_registry(
    world: World, engine: docker.DockerClient
) -> None:
    try:
        httpx.get(f"http://{REGISTRY}/v2/", timeout=3).raise_for_status()
    except httpx.HTTPError:
        pytest.fail(f"the local registry does not answer on {REGISTRY}: `make k8s-up` runs it")
    reclaimer = DockerReclaimer(engine, world.platform.settings.plane, REGISTRY)
    ref = f"{REGISTRY}/xae/app-gcit-{RUN_ID}:b1"
    tiny_image(engine, ref, {LABEL_PLANE: world.platform.settings.plane}, "r")
    for line in engine.api.push(ref.rsplit(":", 1)[0], tag="b1", stream=True, decode=True):
        assert "error" not in line, line
    manifest = f"http://{REGISTRY}/v2/xae/app-gcit-{RUN_ID}/manifests/b1"
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    assert httpx.head(manifest, headers=accept).status_code == 200
    reclaimer.delete_registry_tag(ref)
    assert httpx.head(manifest, headers=accept).status_code == 404
    reclaimer.delete_registry_tag(ref)  # gone already: nothing to do


def test_an_image_pulled_for_an_image_deploy_goes_once_no_kept_release_runs_it(
    world: World, engine: docker.DockerClient, registry: str
) -> None:
    """The runtime marks what it pulls; a platform pass deletes a pulled image no kept release
    runs, leaves an image the operator had before alone, and keeps a reference another plane
    pulled too. A rollback's start pulls a deleted one again."""
    alice: Principal = world.user("alice")
    plane, other = world.platform.settings.plane, f"other{RUN_ID}"
    world.platform.settings.keep_release_images = 1
    create_app(world.platform, alice, "pulls")
    runtime, theirs = DockerRuntime(engine, plane=plane), DockerRuntime(engine, plane=other)
    old, new = f"{registry}/pulls-{RUN_ID}:1", f"{registry}/pulls-{RUN_ID}:2"
    operators = f"xae-it-operators-{RUN_ID}:1"
    for n, ref in enumerate((old, new)):
        tiny_image(engine, ref, {}, f"p{n}")
        for line in engine.api.push(ref.rsplit(":", 1)[0], tag=ref[-1], stream=True, decode=True):
            assert "error" not in line, line
        engine.images.remove(ref)
    tiny_image(engine, operators, {}, "op")  # on the engine before any deploy
    made = {engine.images.get(operators).id}
    try:
        for ref in (operators, old, new):
            runtime.ensure_image(ref)
            made.add(engine.images.get(ref).id)
            deploy(world.platform, "pulls", ref)
        assert pulled_marker(plane, old) in engine.images.get(old).tags
        assert engine.images.get(operators).tags == [operators]  # not pulled: not marked
        old_id = engine.images.get(old).id

        dry = collect(world.platform, alice, dry_run=True)
        assert dry.images == [old]
        engine.images.get(old_id)  # the dry run removed nothing
        done = collect(world.platform, alice)
        assert done.images == [old] and done.errors == []
        with pytest.raises(docker.errors.ImageNotFound):
            engine.images.get(old_id)
        assert engine.images.get(new).tags == sorted([new, pulled_marker(plane, new)])
        assert engine.images.get(operators).tags == [operators]

        runtime.ensure_image(old)  # what a rollback to v2 starts with: pulled again, marked
        assert pulled_marker(plane, old) in engine.images.get(old).tags

        # Another plane runs `new` too (found here, marked for it); this plane moves on.
        theirs.ensure_image(new)
        deploy(world.platform, "pulls", operators)
        collect(world.platform, alice)
        assert sorted(engine.images.get(new).tags) == sorted([new, pulled_marker(other, new)])
    finally:
        for image_id in made:
            with contextlib.suppress(docker.errors.ImageNotFound):
                engine.images.remove(image_id, force=True)

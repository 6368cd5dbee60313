"""Garbage collection in the control plane: which of an app's images go (decided from the
store), that a rollback to a collected release fails clearly, and that a dry run changes
nothing. The engine's side is a recording fake here; tests/integration/builder/test_reclaim.py
runs it on the real Docker engine."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from tests.unit.fakes import World, deploy

from xae.auth.policy import Principal
from xae.control.apps import create_app
from xae.control.gc import collect
from xae.control.releases import rollback
from xae.domain.gc import (
    PULLED_REPOSITORY,
    AppImage,
    NoReclaimer,
    PulledImage,
    pulled_marker,
)
from xae.domain.images import build_tag
from xae.errors import ImageCollected, RuntimeFailure
from xae.store.models import Build, Event


class FakeReclaimer(NoReclaimer):
    """Records what the control plane removes; prunes nothing, sizes nothing."""

    active = True

    def __init__(self, plane: str) -> None:
        self.plane = plane
        self.images: dict[str, AppImage] = {}
        self.pulled: dict[str, set[str]] = {}
        """Pulled images by id: their tags, markers included."""
        self.removed: list[str] = []
        self.registry_deleted: list[str] = []

    def add(self, app: str, ref: str, size: int = 100) -> None:
        self.images[ref] = AppImage(app, ref, size)

    def pull(self, image_id: str, *refs: str, plane: str | None = None) -> None:
        """What the docker runtime leaves when it pulls `refs` (one image): each reference and
        its marker."""
        tags = self.pulled.setdefault(image_id, set())
        tags.update(refs)
        tags.update(pulled_marker(plane or self.plane, r) for r in refs)

    def app_images(self, app: str | None = None) -> list[AppImage]:
        return [i for i in self.images.values() if app is None or i.app == app]

    def pulled_images(self) -> list[PulledImage]:
        mine = f"{PULLED_REPOSITORY}{self.plane}:"
        return [
            PulledImage(
                image_id,
                frozenset(t for t in tags if t.startswith(mine)),
                frozenset(t for t in tags if not t.startswith(mine)),
                size=1000,
            )
            for image_id, tags in self.pulled.items()
            if any(t.startswith(mine) for t in tags)
        ]

    def remove_image(self, ref: str) -> None:
        self.removed.append(ref)
        self.images.pop(ref, None)
        for image_id, tags in list(self.pulled.items()):
            tags.discard(ref)
            if not tags:
                del self.pulled[image_id]

    def delete_registry_tag(self, ref: str) -> None:
        self.registry_deleted.append(ref)


@pytest.fixture
def engine(world: World) -> FakeReclaimer:
    fake = FakeReclaimer(world.platform.settings.plane)
    world.platform.reclaimer = fake
    return fake


def deploy_pulled(world: World, engine: FakeReclaimer, app: str, count: int) -> None:
    """`count` image deploys of `app`, each pulled by the runtime: `nginx:1.21`, `nginx:1.22`..."""
    for n in range(1, count + 1):
        engine.pull(f"id{n}", f"nginx:1.2{n}")
        deploy(world.platform, app, f"nginx:1.2{n}")


@pytest.fixture
def short_lock_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass gives up on a busy app's lock after 0.1 s."""
    monkeypatch.setattr("xae.control.gc.LOCK_WAIT", 0.1)


def deploy_n(world: World, engine: FakeReclaimer, app: str, count: int) -> None:
    for n in range(1, count + 1):
        ref = f"xae/app-{app}:b{n}"
        engine.add(app, ref)
        deploy(world.platform, app, ref)


def test_eight_deploys_with_keep_three_leave_exactly_three_images(
    world: World, engine: FakeReclaimer, shop: str, alice: Principal
) -> None:
    world.platform.settings.keep_release_images = 3
    deploy_n(world, engine, shop, 8)
    collected = collect(world.platform, alice, app=shop)
    assert sorted(engine.images) == [f"xae/app-{shop}:b{n}" for n in (6, 7, 8)]
    assert sorted(collected.images) == sorted(f"xae/app-{shop}:b{n}" for n in range(1, 6))
    assert collected.estimated_bytes == 500
    with world.db.session() as session:
        marked = session.scalars(select(Build.id).where(Build.image_collected_at.is_not(None)))
        assert len(list(marked)) == 5
        assert session.scalar(select(Event).where(Event.action == "gc")) is not None


def test_a_dry_run_lists_the_same_images_and_changes_nothing(
    world: World, engine: FakeReclaimer, shop: str, alice: Principal
) -> None:
    world.platform.settings.keep_release_images = 3
    deploy_n(world, engine, shop, 5)
    dry = collect(world.platform, alice, app=shop, dry_run=True)
    assert sorted(dry.images) == [f"xae/app-{shop}:b1", f"xae/app-{shop}:b2"]
    assert engine.removed == [] and len(engine.images) == 5
    with world.db.session() as session:
        assert session.scalar(select(Build).where(Build.image_collected_at.is_not(None))) is None
        assert session.scalar(select(Event).where(Event.action == "gc")) is None
    real = collect(world.platform, alice, app=shop)
    assert real.images == dry.images


def test_a_rollback_to_a_collected_release_fails_saying_so_and_changes_nothing(
    world: World, engine: FakeReclaimer, shop: str, alice: Principal
) -> None:
    world.platform.settings.keep_release_images = 2
    deploy_n(world, engine, shop, 4)
    collect(world.platform, alice, app=shop)
    with pytest.raises(ImageCollected) as caught:
        rollback(world.platform, alice, shop, 1)
    assert "the image of v1 was garbage-collected" in caught.value.message
    assert "redeploy" in caught.value.message
    assert rollback(world.platform, alice, shop, 3) == (3, 5)  # a kept one still works


def test_the_current_release_after_a_rollback_keeps_its_old_image(
    world: World, engine: FakeReclaimer, shop: str, alice: Principal
) -> None:
    world.platform.settings.keep_release_images = 2
    deploy_n(world, engine, shop, 3)
    rollback(world.platform, alice, shop, 1)  # v4 runs build 1's image
    for n in (4, 5):
        engine.add(shop, f"xae/app-{shop}:b{n}")
        deploy(world.platform, shop, f"xae/app-{shop}:b{n}")
    rollback(world.platform, alice, shop, 4)  # v7 runs build 1's image again, current
    collect(world.platform, alice, app=shop)
    assert f"xae/app-{shop}:b1" in engine.images


def test_images_of_other_apps_and_untracked_images_of_gone_apps(
    world: World, engine: FakeReclaimer, shop: str, alice: Principal
) -> None:
    world.platform.settings.keep_release_images = 1
    deploy_n(world, engine, shop, 2)
    engine.add("gone", "xae/app-gone:b9")
    collect(world.platform, alice, app=shop)
    assert "xae/app-gone:b9" in engine.images  # an app pass touches only its app
    collect(world.platform, alice)
    assert sorted(engine.images) == [f"xae/app-{shop}:b2"]


def test_registry_tags_of_collected_builds_are_deleted(
    world: World, engine: FakeReclaimer, shop: str, alice: Principal
) -> None:
    world.platform.settings.keep_release_images = 1
    world.platform.settings.registry = "127.0.0.1:5000"
    for n in (1, 2):
        engine.add(shop, f"xae/app-{shop}:b{n}")
        engine.add(shop, f"127.0.0.1:5000/xae/app-{shop}:b{n}", 0)
        deploy(world.platform, shop, f"127.0.0.1:5000/xae/app-{shop}:b{n}")
    collect(world.platform, alice, app=shop)
    assert engine.registry_deleted == [f"127.0.0.1:5000/xae/app-{shop}:b1"]
    assert sorted(engine.images) == sorted(
        [f"xae/app-{shop}:b2", f"127.0.0.1:5000/xae/app-{shop}:b2"]
    )


@pytest.mark.usefixtures("short_lock_wait")
def test_an_app_busy_with_a_deploy_is_skipped_not_raced(
    world: World, engine: FakeReclaimer, shop: str, alice: Principal
) -> None:
    world.platform.settings.keep_release_images = 1
    deploy_n(world, engine, shop, 3)
    with world.platform.change(shop):
        collected = collect(world.platform, alice, app=shop)
    assert collected.images == [] and len(engine.images) == 3
    assert any("deploy is in progress" in e for e in collected.errors)


def test_a_platform_without_an_engine_marks_nothing(
    world: World, shop: str, alice: Principal
) -> None:
    world.platform.settings.keep_release_images = 1
    for n in (1, 2, 3):
        deploy(world.platform, shop, f"xae/app-{shop}:b{n}")
    collect(world.platform, alice)
    assert rollback(world.platform, alice, shop, 1) == (1, 4)


def test_images_are_removed_after_the_apps_lock_is_released(
    world: World, engine: FakeReclaimer, shop: str, alice: Principal
) -> None:
    """A deploy waiting for the app's lock never waits for the engine to remove images."""
    world.platform.settings.keep_release_images = 1
    deploy_n(world, engine, shop, 3)
    lock = world.platform.strategy.lock(shop)
    free: list[bool] = []
    remove = engine.remove_image

    def remove_checking(ref: str) -> None:
        taken: list[bool] = []
        other = threading.Thread(target=lambda: taken.append(lock.acquire(timeout=1)))
        other.start()
        other.join()
        free.append(taken == [True])
        if taken == [True]:
            lock.release()
        remove(ref)

    engine.remove_image = remove_checking  # type: ignore[method-assign]
    collect(world.platform, alice, app=shop)
    assert sorted(engine.images) == [f"xae/app-{shop}:b3"]
    assert free == [True, True]


def test_an_image_that_could_not_be_removed_stays_a_rollback_target_and_is_retried(
    world: World, engine: FakeReclaimer, shop: str, alice: Principal
) -> None:
    world.platform.settings.keep_release_images = 1
    deploy_n(world, engine, shop, 2)
    remove = engine.remove_image

    def busy(ref: str) -> None:
        raise RuntimeFailure(f"conflict: unable to remove {ref}: in use")

    engine.remove_image = busy  # type: ignore[method-assign]
    failed = collect(world.platform, alice, app=shop)
    assert failed.errors == [f"{shop}: conflict: unable to remove xae/app-{shop}:b1: in use"]
    with world.db.session() as session:
        assert session.scalars(select(Build.image_collected_at).where(Build.id == 1)).one() is None

    engine.remove_image = remove  # type: ignore[method-assign]
    collect(world.platform, alice, app=shop)
    assert sorted(engine.images) == [f"xae/app-{shop}:b2"]
    with pytest.raises(ImageCollected):
        rollback(world.platform, alice, shop, 1)


def test_the_image_of_a_build_still_running_is_kept_though_no_row_names_it_yet(
    world: World, engine: FakeReclaimer, shop: str, alice: Principal
) -> None:
    world.platform.settings.keep_release_images = 1
    deploy_n(world, engine, shop, 2)
    with world.db.session() as session:
        app_id = session.scalars(select(Build.app_id)).first()
        running = Build(app_id=app_id, status="running")
        session.add(running)
        session.flush()
        build_id = running.id
    plane = world.platform.settings.plane
    engine.add(shop, f"xae/app-{shop}:{build_tag(plane, build_id)}")  # built, being pushed
    engine.add(shop, f"xae/app-{shop}:{build_tag(plane, 999)}")  # no such build: a leftover

    collect(world.platform, alice, app=shop)
    assert sorted(engine.images) == sorted(
        [f"xae/app-{shop}:b2", f"xae/app-{shop}:{build_tag(plane, build_id)}"]
    )


# Images the docker runtime pulled for image deploys (`xae deploy --image nginx:1.27`).


def test_a_platform_pass_removes_pulled_images_no_kept_release_runs(
    world: World, engine: FakeReclaimer, shop: str, alice: Principal
) -> None:
    world.platform.settings.keep_release_images = 2
    deploy_pulled(world, engine, shop, 3)
    engine.pull("id9", "shop-old:v1")  # an app destroyed since: no build names it

    assert collect(world.platform, alice, app=shop).images == []  # an app's pass: not these
    assert len(engine.pulled) == 4

    dry = collect(world.platform, alice, dry_run=True)
    assert sorted(dry.images) == ["nginx:1.21", "shop-old:v1"]
    assert dry.estimated_bytes == 2000 and engine.removed == []

    collected = collect(world.platform, alice)
    assert sorted(collected.images) == ["nginx:1.21", "shop-old:v1"]
    assert sorted(engine.pulled) == ["id2", "id3"]
    # The reference goes before its marker, so a failure leaves the marker for the next pass.
    first = engine.removed.index("nginx:1.21")
    assert engine.removed[first + 1] == pulled_marker(engine.plane, "nginx:1.21")
    assert rollback(world.platform, alice, shop, 1) == (1, 4)  # the runtime pulls it again


def test_an_image_the_operator_had_before_is_never_touched(
    world: World, engine: FakeReclaimer, shop: str, alice: Principal
) -> None:
    """The runtime marks only what it pulls; an image on the engine before has no marker."""
    deploy(world.platform, shop, "nginx:1.21")
    deploy(world.platform, shop, "nginx:1.22")
    world.platform.settings.keep_release_images = 1
    engine.pulled["mine"] = {"nginx:1.21"}
    collect(world.platform, alice)
    assert engine.pulled == {"mine": {"nginx:1.21"}} and engine.removed == []


@pytest.mark.usefixtures("short_lock_wait")
def test_a_busy_apps_pulled_images_all_stay(
    world: World, engine: FakeReclaimer, shop: str, alice: Principal
) -> None:
    world.platform.settings.keep_release_images = 1
    deploy_pulled(world, engine, shop, 3)
    with world.platform.change(shop):
        collected = collect(world.platform, alice)
    assert len(engine.pulled) == 3 and collected.images == []


def test_a_pulled_image_another_plane_runs_keeps_its_reference(
    world: World, engine: FakeReclaimer, shop: str, alice: Principal
) -> None:
    world.platform.settings.keep_release_images = 1
    engine.pull("id1", "nginx:1.21")
    engine.pull("id1", "nginx:1.21", plane="other")
    deploy(world.platform, shop, "nginx:1.21")
    deploy(world.platform, shop, "nginx:1.22")
    collect(world.platform, alice)
    assert engine.pulled["id1"] == {"nginx:1.21", pulled_marker("other", "nginx:1.21")}


def test_a_tenant_moving_on_never_takes_an_image_another_tenants_app_runs(
    world: World, engine: FakeReclaimer, shop: str, alice: Principal
) -> None:
    """Two apps pulled one image under two spellings; the first app's old releases go out of
    its keep-set, the second still runs it: a platform pass keeps it whole."""
    create_app(world.platform, alice, "blog")
    world.platform.settings.keep_release_images = 1
    deploy_pulled(world, engine, shop, 3)  # nginx:1.21 is image id1; shop runs 1.23 now
    deploy(world.platform, "blog", "docker.io/library/nginx:1.21")
    collect(world.platform, alice)
    assert engine.pulled["id1"] == {"nginx:1.21", pulled_marker(engine.plane, "nginx:1.21")}
    assert sorted(engine.pulled) == ["id1", "id3"]  # shop's 1.22 went

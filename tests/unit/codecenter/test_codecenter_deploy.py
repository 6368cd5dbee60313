"""The deploy pipeline without Docker: a source deploy (the build faked) and an image deploy
record their build here and hand it to Platform Control's one release step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.unit.deployfakes import BUILD_IMAGE, fake_build, static_tarball
from tests.unit.fakes import World

from xae.builder.build import BuiltImage
from xae.codecenter.deploy import DeployPipeline
from xae.control.apps import create_app, destroy_app, get_app
from xae.domain.deploy_events import DeployEvent, LogLine, Step
from xae.errors import BuildFailed, InvalidInput, NotFound
from xae.store.models import App, Build, Event, Release


@pytest.fixture
def shop(world: World) -> str:
    create_app(world.platform, world.user("alice"), "shop")
    return "shop"


def loaded(world: World, name: str) -> App:
    """The app's row as the API hands it to the pipeline: loaded once, detached."""
    with world.db.session() as session:
        return get_app(session, name)


def _audit(world: World, action: str) -> list[tuple[str, dict[str, Any]]]:
    with world.db.session() as session:
        return [
            (e.result, e.details)
            for e in session.scalars(select(Event).where(Event.action == action).order_by(Event.id))
        ]


def _rows(world: World) -> list[tuple[Any, ...]]:
    with world.db.session() as session:
        return [
            (r.version, r.description, r.status, b.stack, b.image, b.port, b.processes, b.status)
            for r, b in session.execute(
                select(Release, Build)
                .join(Build, Release.build_id == Build.id)
                .order_by(Release.version)
            )
        ]


def test_a_source_deploy_records_the_built_image_and_releases_it(
    world: World, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def has_page(src: Path) -> None:
        assert (src / "index.html").exists()

    build = fake_build(["-----> static app detected"], check=has_page)
    monkeypatch.setattr(BUILD_IMAGE, build)
    pipeline = DeployPipeline(world.platform)
    events: list[DeployEvent] = []

    pipeline.run(world.user(), loaded(world, shop), static_tarball(), events.append)

    [(version, description, status, stack, image, port, processes, build_status)] = _rows(world)
    assert (version, status, stack, image, port) == (
        1,
        "succeeded",
        "static",
        "xae/app-shop:b1",
        None,
    )
    assert description == "Deploy build 1 (static)"
    assert (processes, build_status) == ({"web": "serve-static"}, "succeeded")
    assert LogLine("-----> static app detected") in events
    assert Step("releasing v1") in events
    assert [world.runtime.spec_of(i).image for i in world.runtime.of(shop)] == ["xae/app-shop:b1"]


def test_an_image_deploy_records_an_image_build_without_docker(world: World, shop: str) -> None:
    pipeline = DeployPipeline(world.platform)
    events: list[DeployEvent] = []

    pipeline.run_image(world.user(), loaded(world, shop), "nginx:1.27", 8080, "", events.append)

    assert _rows(world) == [
        (
            1,
            "Deploy image nginx:1.27",
            "succeeded",
            "image",
            "nginx:1.27",
            8080,
            {"web": ""},
            "succeeded",
        )
    ]
    assert not world.platform.docker.connected  # no Docker client was ever made
    first = events[0]
    assert isinstance(first, Step)
    assert first.message.startswith("using image nginx:1.27 as is (no build)")
    assert "the image's CMD on port 8080" in first.message


def test_the_pipeline_refuses_a_bad_reference_even_when_the_api_is_bypassed(
    world: World, shop: str
) -> None:
    with pytest.raises(InvalidInput):
        DeployPipeline(world.platform).run_image(
            world.user(), loaded(world, shop), "a b", 5000, "", print
        )
    assert _rows(world) == []


def test_a_failed_build_is_recorded_failed_with_its_log_and_makes_no_release(
    world: World, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        BUILD_IMAGE,
        fake_build(["-----> python app detected", "ERROR: no such package"], fail=True),
    )
    pipeline = DeployPipeline(world.platform)

    with pytest.raises(BuildFailed) as raised:
        pipeline.run(world.user(), loaded(world, shop), static_tarball(), lambda _: None)

    assert raised.value.details["log_tail"] == [
        "-----> python app detected",
        "ERROR: no such package",
    ]
    with world.db.session() as session:
        [build] = session.scalars(select(Build))
        assert (build.status, build.log) == (
            "failed",
            "-----> python app detected\nERROR: no such package",
        )
        assert build.finished_at is not None
        assert list(session.scalars(select(Release))) == []
    assert _audit(world, "build") == [
        (
            "failed",
            {
                "build": build.id,
                "error": "the build failed: pip could not install the requirements",
            },
        )
    ]
    assert world.runtime.of(shop) == []


def test_a_build_that_finishes_after_its_app_was_destroyed_releases_nothing(
    world: World, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = loaded(world, shop)

    def build_while_destroyed(*args: Any, **kwargs: Any) -> BuiltImage:
        destroy_app(world.platform, world.user(), shop, confirm=shop)
        return fake_build()(*args, **kwargs)

    monkeypatch.setattr(BUILD_IMAGE, build_while_destroyed)
    pipeline = DeployPipeline(world.platform)

    with pytest.raises(NotFound, match="does not exist, or is not yours"):
        pipeline.run(world.user(), app, static_tarball(), lambda _: None)

    with world.db.session() as session:
        assert list(session.scalars(select(Release))) == []
        assert list(session.scalars(select(Build))) == []
    assert world.runtime.of(shop) == []


def test_a_deploy_says_it_serves_before_its_drain_and_the_apps_next_build_may_start_then(
    world: World, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("xae.codecenter.deploy.build_image", fake_build([]))
    pipeline = DeployPipeline(world.platform)
    pipeline.run(world.user(), loaded(world, shop), static_tarball(), lambda _: None)
    [old] = world.runtime.of(shop, "web")
    world.events.clear()
    seen: list[tuple[int, list[object], str]] = []

    def serving(version: int) -> None:
        # The app's next deploy is queued now: it may build at once, not after the drain.
        queue = pipeline.service.queue
        following = queue.submit(shop, 999)
        seen.append((version, world.events.kinds(), str(following.state)))
        queue.finish(following)

    pipeline.run(
        world.user(), loaded(world, shop), static_tarball(), lambda _: None, on_serving=serving
    )

    assert seen == [(2, ["start", "route"], "building")]
    assert world.events.items[2:] == [("stop", old.name, 7.5)]

"""The deploy pipeline without Docker: a source deploy (the build faked) and an image deploy
release the same way, through the one shared release step."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.unit.fakes import World

from xae.builder.build import BuiltImage
from xae.codecenter.deploy import DeployPipeline
from xae.config import Settings
from xae.control.apps import create_app
from xae.domain.deploy_events import DeployEvent, LogLine, Step
from xae.errors import InvalidInput
from xae.store.models import Build, Release


def _tarball() -> io.BytesIO:
    data = b"<html>hi</html>\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("index.html")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


@pytest.fixture
def shop(world: World) -> str:
    create_app(world.platform, world.user("alice"), "shop")
    return "shop"


def _rows(world: World) -> list[tuple[Any, ...]]:
    with world.db.session() as session:
        return [
            (r.version, r.description, r.status, b.stack, b.image, b.port, b.processes, b.status)
            for r, b in session.execute(
                select(Release, Build).join(Build, Release.build_id == Build.id)
                .order_by(Release.version)
            )
        ]


def test_a_source_deploy_records_the_built_image_and_releases_it(
    world: World, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_build(client: object, src: Path, *, app: str, tag: str, settings: Settings,
                   log: Any) -> BuiltImage:
        assert (src / "index.html").exists()
        log("-----> static app detected")
        return BuiltImage(image_id="sha256:1", ref=f"xae/app-{app}:{tag}", stack="static",
                          processes={"web": "serve-static"}, port=None)

    monkeypatch.setattr("xae.codecenter.deploy.build_image", fake_build)
    pipeline = DeployPipeline(world.platform)
    events: list[DeployEvent] = []

    pipeline.run(world.user(), shop, _tarball(), events.append)

    [(version, description, status, stack, image, port, processes, build_status)] = _rows(world)
    assert (version, status, stack, image, port) == (1, "succeeded", "static", "xae/app-shop:b1",
                                                     None)
    assert description == "Deploy build 1 (static)"
    assert (processes, build_status) == ({"web": "serve-static"}, "succeeded")
    assert LogLine("-----> static app detected") in events
    assert Step("releasing v1") in events
    assert [world.runtime.spec_of(i).image for i in world.runtime.of(shop)] == ["xae/app-shop:b1"]


def test_an_image_deploy_records_an_image_build_without_docker(world: World, shop: str) -> None:
    pipeline = DeployPipeline(world.platform)
    events: list[DeployEvent] = []

    pipeline.run_image(world.user(), shop, "nginx:1.27", 8080, "", events.append)

    assert _rows(world) == [
        (1, "Deploy image nginx:1.27", "succeeded", "image", "nginx:1.27", 8080, {"web": ""},
         "succeeded")
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
        DeployPipeline(world.platform).run_image(world.user(), shop, "a b", 5000, "", print)
    assert _rows(world) == []

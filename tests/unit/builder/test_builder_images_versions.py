"""Stack images per language version: names and tags that change with what they are made of,
and slow images reloaded from the cache directory instead of rebuilt (a fake engine)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from xae.builder import images
from xae.config import Settings
from xae.errors import BuildFailed


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    bundle = tmp_path / "ca.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    return Settings(ca_bundle=bundle, image_cache_dir=tmp_path / "cache")


def test_each_version_has_its_own_run_and_build_image(settings: Settings) -> None:
    offered = [v.version for v in images.versions("python")]
    assert offered == ["3.11", "3.13"]
    run = images.stack_image("python", settings, "3.13")
    build = images.stack_build_image("python", settings, "3.13")
    assert run.startswith("xae/stack-python-3.13:")
    assert build.startswith("xae/stack-python-3.13-build:")
    assert run.split(":")[1] != images.stack_image("python", settings, "3.11").split(":")[1]
    assert images.stack_image("node", settings).startswith("xae/stack-node:")


def test_an_unknown_version_is_refused_listing_the_offered_ones(settings: Settings) -> None:
    with pytest.raises(BuildFailed, match=r"offers no version 3\.9 \(it offers: 3\.11, 3\.13\)"):
        images.stack_image("python", settings, "3.9")


def test_suites_other_than_the_default_get_their_own_base(settings: Settings) -> None:
    assert images.base_name("bookworm") == "xae/base"
    assert images.base_name("trixie") == "xae/base-trixie"
    assert images.base_tag(settings, "trixie") != images.base_tag(settings)


class _Image:
    def __init__(self, api: _Engine, ref: str) -> None:
        self.api, self.ref = api, ref

    def tag(self, name: str, tag: str) -> None:
        self.api.tags.append(f"{name}:{tag}")

    def save(self, named: bool = False) -> Iterator[bytes]:
        yield b"image-tar-bytes"


class _Images:
    def __init__(self, engine: _Engine) -> None:
        self.engine = engine

    def get(self, ref: str) -> _Image:
        if ref not in self.engine.present:
            raise docker.errors.ImageNotFound(ref)
        return _Image(self.engine, ref)

    def load(self, data: io.BufferedReader) -> None:
        assert data.read() == b"image-tar-bytes"
        self.engine.present.add(self.engine.loads_as)
        self.engine.loaded += 1


class _API:
    def __init__(self, engine: _Engine) -> None:
        self.engine = engine

    def build(self, **kwargs: Any) -> Iterator[dict[str, str]]:
        self.engine.built.append(kwargs["tag"])
        self.engine.present.add(kwargs["tag"])
        yield {"stream": "ok"}


class _Engine:
    def __init__(self, loads_as: str) -> None:
        self.present: set[str] = set()
        self.tags: list[str] = []
        self.built: list[str] = []
        self.loaded = 0
        self.loads_as = loads_as
        self.images = _Images(self)
        self.api = _API(self)


def test_a_slow_image_is_built_once_saved_and_then_loaded_from_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ref = "xae/stack-python-3.13-build:abc"
    first = _Engine(ref)
    images._build(first, "xae/stack-python-3.13-build", "abc", io.BytesIO, print, cache)
    assert first.built == [ref]
    assert [p.name for p in cache.iterdir()] == ["xae_stack-python-3.13-build-abc.tar"]

    # A machine whose images were removed: loaded from the cache, nothing rebuilt.
    second = _Engine(ref)
    images._build(second, "xae/stack-python-3.13-build", "abc", io.BytesIO, print, cache)
    assert second.built == [] and second.loaded == 1
    assert second.tags == ["xae/stack-python-3.13-build:latest"]


def test_a_new_tag_is_not_satisfied_by_an_old_cached_copy(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "xae_stack-python-3.13-build-old.tar").write_bytes(b"image-tar-bytes")
    engine = _Engine("xae/stack-python-3.13-build:old")
    images._build(engine, "xae/stack-python-3.13-build", "new", io.BytesIO, print, cache)
    assert engine.built == ["xae/stack-python-3.13-build:new"] and engine.loaded == 0

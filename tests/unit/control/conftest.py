"""Fixtures for control-layer unit tests: a `Platform` on the fake runtime and router."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.fakes import World, make_db_template, make_world

from xae.control.apps import create_app
from xae.store.models import User


@pytest.fixture(scope="session")
def db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_db_template(tmp_path_factory)


@pytest.fixture
def world(db_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    world = make_world(db_template, tmp_path, monkeypatch)
    yield world
    world.db.engine.dispose()


@pytest.fixture
def alice(world: World) -> User:
    return world.user("alice")


@pytest.fixture
def shop(world: World, alice: User) -> str:
    """An app named `shop`, created by alice and not deployed yet."""
    create_app(world.platform, alice, "shop")
    world.events.clear()
    return "shop"

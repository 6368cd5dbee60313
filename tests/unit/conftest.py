"""Fixtures shared by the unit tests that need a store: a migrated template database (made
once per session, because migrating and hashing passwords are slow) and a `World` on fakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.fakes import World, make_db_template, make_world


@pytest.fixture(scope="session")
def db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_db_template(tmp_path_factory)


@pytest.fixture
def world(db_template: Path, tmp_path: Path) -> Iterator[World]:
    """A `Platform` on the fake runtime and router, over a copy of the template database."""
    world = make_world(db_template, tmp_path)
    yield world
    world.db.engine.dispose()

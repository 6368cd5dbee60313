"""Fixtures for auth unit tests: a real, migrated SQLite database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.fakes import copy_db, make_db_template

from xae.store.db import Database


@pytest.fixture(scope="session")
def db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_db_template(tmp_path_factory)


@pytest.fixture
def db(db_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A migrated database holding users `alice`, `bob` and `root` (admin)."""
    database = copy_db(db_template, tmp_path)
    yield database
    database.engine.dispose()

"""Fixtures for auth unit tests: a real, migrated SQLite database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.fakes import copy_db

from xae.store.db import Database


@pytest.fixture
def db(db_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A migrated database holding users `alice`, `bob` and `root` (admin)."""
    database = copy_db(db_template, tmp_path)
    yield database
    database.engine.dispose()

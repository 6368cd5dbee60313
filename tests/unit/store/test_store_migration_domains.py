"""Revision 0007: apps made before it keep the router's defaults, a hostname is one app's
across all teams, and destroying an app's row takes its domains with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from tests.unit.store.test_store_migration_sealed import upgrade_to

from xae.store.db import MIGRATIONS, Database


def test_apps_from_before_keep_the_defaults_and_a_hostname_has_one_app(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'xae.db'}")
    upgrade_to(db.engine, "0006_build_run_as")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO teams (id, name, created_at) VALUES (1, 't', '2026-01-01')"))
        conn.execute(
            text(
                "INSERT INTO apps (id, name, team_id, created_at) VALUES "
                "(1, 'shop', 1, '2026-01-01'), (2, 'blog', 1, '2026-01-01')"
            )
        )
    upgrade_to(db.engine, "0007_domains")
    with db.engine.begin() as conn:
        row = conn.execute(
            text("SELECT redirect_https, max_body, read_timeout, scale_from_zero FROM apps")
        ).first()
        assert tuple(row or ()) == (0, None, None, 0)
        schema = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'apps'")).scalar()
        assert "AUTOINCREMENT" in str(schema)
        insert = text(
            "INSERT INTO domains (hostname, app_id, created_at, created_by) "
            "VALUES (:h, :a, '2026-01-01', 'alice')"
        )
        conn.execute(insert, {"h": "www.example.com", "a": 1})
        conn.execute(insert, {"h": "*.example.com", "a": 2})
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        conn.execute(insert, {"h": "www.example.com", "a": 2})
    with db.engine.begin() as conn:
        conn.execute(text("PRAGMA foreign_keys=ON"))
        conn.execute(text("DELETE FROM apps WHERE id = 1"))
        left = conn.execute(text("SELECT hostname FROM domains")).scalars().all()
        assert left == ["*.example.com"]

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006_build_run_as")
    with db.engine.begin() as conn:
        tables = conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'")).scalars()
        assert "domains" not in set(tables)
        schema = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'apps'")).scalar()
        assert "AUTOINCREMENT" in str(schema) and "max_body" not in str(schema)
    db.engine.dispose()

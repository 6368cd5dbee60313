"""Upgrading a store that holds config in plain text (revision 0002): every value survives,
sealed, and the SQLite file (with its WAL) no longer contains any of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, select, text

from xae.control.configvars import open_config
from xae.store.db import MIGRATIONS, Database, make_engine
from xae.store.models import App, Release
from xae.store.sealed import Vault, key_file

SECRETS = {"DATABASE_URL": "postgres://u:plaintext-hunter2@db/shop", "API_KEY": "sk-plain-4711"}


def upgrade_to(engine: Engine, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def old_store(path: Path) -> Database:
    """A store as xae at revision 0002 left it: one app, two releases, config in plain JSON."""
    db = Database(f"sqlite:///{path}")
    upgrade_to(db.engine, "0002_release_failure")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, name, password_hash, is_admin, created_at) "
                "VALUES (1, 'alice', 'x', 0, '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO apps (id, name, owner_id, created_at, config) "
                "VALUES (1, 'shop', 1, '2026-01-01', :c), (2, 'empty', 1, '2026-01-01', '{}')"
            ),
            {"c": json.dumps(SECRETS)},
        )
        for version, config in ((1, {"API_KEY": SECRETS["API_KEY"]}), (2, SECRETS)):
            conn.execute(
                text(
                    "INSERT INTO releases (app_id, version, config, description, status, "
                    "created_by, created_at) VALUES (1, :v, :c, '', 'succeeded', 'alice', "
                    "'2026-01-01')"
                ),
                {"v": version, "c": json.dumps(config)},
            )
        conn.execute(text("UPDATE apps SET current_release_id = 2 WHERE id = 1"))
    return db


def raw_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())


def insecure_delete(dbapi_conn: Any, _record: Any) -> None:
    """SQLite as many builds ship it (Debian's zeroes deleted content by default)."""
    dbapi_conn.execute("PRAGMA secure_delete = OFF")


def test_plain_config_is_sealed_in_place_and_gone_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "xae.db"
    db = old_store(path)
    event.listen(db.engine, "connect", insecure_delete)
    db.engine.dispose()
    assert b"plaintext-hunter2" in raw_bytes(path)  # the test's premise
    vault = Vault.at(key_file(tmp_path), create=True)

    db.migrate(vault)

    with db.session() as session:
        shop = session.scalars(select(App).where(App.name == "shop")).one()
        assert open_config(vault, shop) == SECRETS
        assert shop.config_keys == ["API_KEY", "DATABASE_URL"]
        assert shop.current_release is not None and shop.current_release.version == 2
        v1, v2 = session.scalars(select(Release).order_by(Release.version))
        assert open_config(vault, v1) == {"API_KEY": SECRETS["API_KEY"]}
        assert open_config(vault, v2) == SECRETS
        empty = session.scalars(select(App).where(App.name == "empty")).one()
        assert (empty.config_sealed, empty.config_keys) == ("", [])
    db.engine.dispose()
    data = raw_bytes(path)
    for value in ("plaintext-hunter2", "sk-plain-4711", "postgres://"):
        assert value.encode() not in data, value


def test_a_store_with_plain_config_is_not_upgraded_without_a_key(tmp_path: Path) -> None:
    path = tmp_path / "xae.db"
    db = old_store(path)
    with pytest.raises(RuntimeError, match="no key was given"):
        db.migrate()
    with db.engine.connect() as conn:  # nothing changed: the upgrade rolled back
        assert "config" in {row[1] for row in conn.execute(text("PRAGMA table_info(apps)"))}
        assert conn.execute(text("SELECT config FROM apps WHERE id = 1")).scalar_one()


def test_a_store_without_config_upgrades_without_a_key(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'xae.db'}")
    Database(f"sqlite:///{tmp_path / 'xae.db'}").migrate()
    with engine.connect() as conn:
        columns = {row[1] for row in conn.execute(text("PRAGMA table_info(releases)"))}
    assert {"config_sealed", "config_keys"} <= columns and "config" not in columns

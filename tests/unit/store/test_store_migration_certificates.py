"""Migration 0008 (certificates): a new table matching the model, up and down again."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from xae.store.db import MIGRATIONS
from xae.store.models import Certificate


def _config(conn: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def test_the_table_matches_the_model_and_the_downgrade_drops_it(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'xae.db'}")
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0008_certificates")
        columns = {c["name"] for c in sa.inspect(conn).get_columns("certificates")}
        assert columns == set(Certificate.__table__.columns.keys())
        keys = sa.inspect(conn).get_foreign_keys("certificates")
        assert [(k["referred_table"], k["options"].get("ondelete")) for k in keys] == [
            ("apps", "CASCADE")
        ]
        command.downgrade(_config(conn), "0006_build_run_as")
        assert "certificates" not in sa.inspect(conn).get_table_names()
    engine.dispose()

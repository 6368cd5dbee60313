"""Migration 0003 (teams): an installation made before teams upgrades in place, nothing lost.

A database is built at revision 0002 with what such an installation holds (an admin and two
users, apps of each, tokens, releases, audit events), then migrated to the newest revision.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import select

from xae.domain.access import Role, Scope
from xae.store.db import MIGRATIONS, Database
from xae.store.models import App, Event, Membership, Release, Team, Token, User
from xae.store.sealed import Vault, key_file


def _at_0002(path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{path}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002_release_failure")
        rows = [
            "INSERT INTO users (id, name, password_hash, is_admin, created_at) VALUES "
            "(1, 'admin', 'h', 1, '2026-11-01 10:00:00'),"
            " (2, 'ann', 'h', 0, '2026-11-01 10:00:00'),"
            " (3, 'bob', 'h', 0, '2026-11-01 10:00:00'),"
            " (4, 'idle', 'h', 0, '2026-11-01 10:00:00')",
            "INSERT INTO apps (id, name, owner_id, created_at, config) VALUES "
            "(1, 'site', 1, '2026-11-01 10:00:00', '{\"A\": \"1\"}'),"
            " (2, 'shop', 2, '2026-11-01 10:00:00', '{}'),"
            " (3, 'blog', 2, '2026-11-01 10:00:00', '{}'),"
            " (4, 'bank', 3, '2026-11-01 10:00:00', '{}')",
            "INSERT INTO releases (id, app_id, version, config, description, status, created_by,"
            " created_at) VALUES (1, 2, 1, '{}', 'first', 'succeeded', 'ann',"
            " '2026-11-01 10:00:00')",
            "UPDATE apps SET current_release_id = 1 WHERE id = 2",
            "INSERT INTO formations (id, app_id, process_type, quantity, restart_generation)"
            " VALUES (1, 2, 'web', 2, 0)",
            "INSERT INTO tokens (id, user_id, token_hash, created_at, expires_at) VALUES "
            "(1, 2, 'abc', '2026-11-01 10:00:00', '2027-11-01 10:00:00')",
            "INSERT INTO events (id, at, actor, action, target, result, details) VALUES "
            "(1, '2026-11-01 10:00:00', 'ann', 'app.create', 'shop', 'ok', '{}'),"
            " (2, '2026-11-01 10:00:00', 'ann', 'auth.login', 'ann', 'ok', '{}')",
        ]
        for statement in rows:
            conn.exec_driver_sql(statement)
    engine.dispose()


def test_an_installation_from_before_teams_keeps_everything_and_everyone_sees_the_same(
    tmp_path: Path,
) -> None:
    path = tmp_path / "xae.db"
    _at_0002(path)
    db = Database(f"sqlite:///{path}")

    db.migrate(Vault.at(key_file(tmp_path), create=True))

    with db.session() as session:
        teams = {t.id: t.name for t in session.scalars(select(Team))}
        members = {
            (teams[m.team_id], m.user.name, m.role) for m in session.scalars(select(Membership))
        }
        apps = {a.name: teams[a.team_id] for a in session.scalars(select(App))}
        shop = session.scalars(select(App).where(App.name == "shop")).one()
        token = session.scalars(select(Token)).one()
        events = {e.id: (e.app, e.team_id) for e in session.scalars(select(Event))}
        assert shop.current_release is not None and shop.current_release.version == 1
        assert len(list(session.scalars(select(Release)))) == 1
        assert {u.name for u in session.scalars(select(User))} == {"admin", "ann", "bob", "idle"}
        team_of = {name: team_id for team_id, name in teams.items()}

    # The admin's apps go to `default`; each other owner gets a team of their own.
    assert apps == {"site": "default", "shop": "ann", "blog": "ann", "bank": "bob"}
    assert members == {
        ("default", "admin", Role.OWNER),
        ("ann", "ann", Role.OWNER),
        ("bob", "bob", Role.OWNER),
    }
    # A token from before keeps what it could do: everything its user may, as `login`.
    assert (token.name, token.scope, token.app_id) == ("login", Scope.ADMIN, None)
    # Events about an app are filed under its team; a login stays with admins only.
    assert events == {1: ("shop", team_of["ann"]), 2: (None, None)}
    # Nothing that referred to the rebuilt tables was deleted with them.
    with db.session() as session:
        assert session.execute(sa.text("SELECT count(*) FROM formations")).scalar_one() == 1
        assert session.execute(sa.text("PRAGMA foreign_key_check")).all() == []
        assert session.execute(sa.text("PRAGMA foreign_keys")).scalar_one() == 1
        # App ids are never reused (a destroyed app's id cannot name a new app).
        schema = session.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE name = 'apps'")
        ).scalar_one()
        assert "AUTOINCREMENT" in schema


def test_a_fresh_database_migrates_to_an_empty_model(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'xae.db'}")
    db.migrate()
    db.migrate()  # again: a no-op
    with db.session() as session:
        assert list(session.scalars(select(Team))) == []

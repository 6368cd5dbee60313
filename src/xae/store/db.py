"""Opening the database: engine, sessions, and migrations run at start-up.

SQLite in WAL mode by default (one file under the state dir); the schema is owned by Alembic,
so an upgraded xae migrates an existing database instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from xae.store.sealed import Vault

MIGRATIONS = Path(__file__).parent / "migrations"

SCRUB = "scrub"
"""Set in alembic's `cfg.attributes` by a migration that replaced plain text in place."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine, vault: Vault | None = None) -> None:
    """Bring the schema to the newest revision.

    `vault` seals what a migration moves out of plain text (`0004_sealed_config`); a store that
    holds no such thing migrates without one. When a migration sealed something, SQLite's WAL is
    checkpointed and truncated and the file vacuumed, so no page of it keeps the plain text.

    On SQLite, foreign keys are off while migrating: a migration that changes a column rebuilds
    its table (copy, drop, rename), and dropping a table that others refer to with `ON DELETE
    CASCADE` would otherwise delete their rows. The keys are checked before the migration
    commits, so a migration that breaks them fails as a whole."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["vault"] = vault
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # Outside any transaction (the pragma is ignored inside one).
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(
                            f"the migration left {len(broken)} broken reference(s), e.g. "
                            f"{tuple(broken[0])}; nothing was changed"
                        )
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
    if cfg.attributes.get(SCRUB) and sqlite:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


class Database:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self, vault: Vault | None = None) -> None:
        migrate(self.engine, vault)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        with self._sessions() as session, session.begin():
            yield session

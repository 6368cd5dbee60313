"""config vars sealed at rest

Each app's config and each release's copy of it move from a plain JSON column (`config`) to a
sealed blob (`config_sealed`, see `xae.store.sealed`) and the sorted key names in clear
(`config_keys`). Existing values are sealed in place with the vault `xae.store.db.migrate`
hands over (`cfg.attributes["vault"]`); a store with no config needs none. The plain column is
dropped and the caller vacuums the SQLite file (`SCRUB`), so the plain text is gone from disk.

There is no downgrade: it would have to write the secrets back in plain text. Restore the
backup taken before the upgrade instead.

Revision ID: 0004_sealed_config
Revises: 0002_release_failure
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from xae.store.db import SCRUB

revision: str = "0004_sealed_config"
down_revision: str | None = "0003_teams"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("apps", "releases")


def upgrade() -> None:
    attributes = context.config.attributes
    vault = attributes.get("vault")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # Pages and cells the plain values leave behind are zeroed, not just marked free.
        op.execute("PRAGMA secure_delete = ON")
    for name in TABLES:
        op.add_column(
            name, sa.Column("config_sealed", sa.Text(), nullable=False, server_default="")
        )
        op.add_column(
            name, sa.Column("config_keys", sa.JSON(), nullable=False, server_default="[]")
        )
        table = sa.table(
            name,
            sa.column("id", sa.Integer()),
            sa.column("config", sa.JSON()),
            sa.column("config_sealed", sa.Text()),
            sa.column("config_keys", sa.JSON()),
        )
        for row_id, config in bind.execute(sa.select(table.c.id, table.c.config)).all():
            if not config:
                continue
            if vault is None:
                raise RuntimeError(
                    "the store holds config vars to seal but no key was given: run the "
                    "migration through `xae-admin` or the server, which load the key file"
                )
            bind.execute(
                sa.update(table)
                .where(table.c.id == row_id)
                .values(config_sealed=vault.seal(config), config_keys=sorted(config))
            )
            attributes[SCRUB] = True
        # SQLite (3.35+) drops a column in place; a batch copy would drop and re-create the
        # table, and with foreign keys on, dropping `apps` would cascade to its releases.
        op.drop_column(name, "config")


def downgrade() -> None:
    raise NotImplementedError(
        "0004_sealed_config has no downgrade (it would write secrets back in plain text): "
        "restore the backup taken before the upgrade"
    )

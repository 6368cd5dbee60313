"""manifest env defaults sealed at rest; pending webhook deliveries kept across restarts

A build's manifest (`builds.manifest`, JSON) held its `env` defaults in clear, and an
`app.json` default can be a secret. Their values move to a sealed blob
(`builds.env_defaults_sealed`, see `xae.store.sealed`) with the vault `xae.store.db.migrate`
hands over; the manifest keeps each key without its value. The plain values are overwritten and
the caller vacuums the SQLite file (`SCRUB`), so they are gone from disk.

`hook_outbox` holds each webhook delivery not yet delivered (its body, next attempt and when),
so a restarted control plane resumes the retries (`xae.codecenter.notify`).

There is no downgrade: it would have to write the defaults back in plain text. Restore the
backup taken before the upgrade instead.

Revision ID: 0016_mends
Revises: 0015_previews
Create Date: 2026-12-02 03:00:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from xae.store.db import SCRUB

revision: str = "0016_mends"
down_revision: str | None = "0015_previews"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _split(manifest: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The manifest without its env values, and those values (what `xae.control.manifests`
    stores; copied here so the migration never changes with the code)."""
    env = manifest.get("env")
    if not isinstance(env, dict):
        return manifest, {}
    kept, defaults = {}, {}
    for key, var in env.items():
        if isinstance(var, dict) and isinstance(var.get("value"), str):
            defaults[key] = var["value"]
            var = {k: v for k, v in var.items() if k != "value"}
        kept[key] = var
    return {**manifest, "env": kept}, defaults


def upgrade() -> None:
    attributes = context.config.attributes
    vault = attributes.get("vault")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("PRAGMA secure_delete = ON")
    op.add_column(
        "builds", sa.Column("env_defaults_sealed", sa.Text(), nullable=False, server_default="")
    )
    builds = sa.table(
        "builds",
        sa.column("id", sa.Integer()),
        sa.column("manifest", sa.JSON()),
        sa.column("env_defaults_sealed", sa.Text()),
    )
    rows = bind.execute(
        sa.select(builds.c.id, builds.c.manifest).where(builds.c.manifest.is_not(None))
    ).all()
    for row_id, manifest in rows:
        if not isinstance(manifest, dict):
            continue
        stored, defaults = _split(manifest)
        if not defaults:
            continue
        if vault is None:
            raise RuntimeError(
                "the store holds manifest defaults to seal but no key was given: run the "
                "migration through `xae-admin` or the server, which load the key file"
            )
        bind.execute(
            sa.update(builds)
            .where(builds.c.id == row_id)
            .values(manifest=stored, env_defaults_sealed=vault.seal(defaults))
        )
        attributes[SCRUB] = True
    op.create_table(
        "hook_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hook_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("delivery", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["hook_id"], ["hooks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_hook_outbox_hook_id", "hook_outbox", ["hook_id"])
    op.create_index("ix_hook_outbox_app_id", "hook_outbox", ["app_id"])
    op.create_index("ix_hook_outbox_due_at", "hook_outbox", ["due_at"])


def downgrade() -> None:
    raise NotImplementedError(
        "0016_mends has no downgrade (it would write manifest defaults back in plain text): "
        "restore the backup taken before the upgrade"
    )

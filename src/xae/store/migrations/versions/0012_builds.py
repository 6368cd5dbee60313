"""the build service: queued builds, their source and who started them; deploy notifications

Revision ID: 0012_builds
Revises: 0011_cron
Create Date: 2026-12-01 23:00:00.000000

Columns on `builds` (NULL for builds made before: they were never queued, and their source is
unknown) and two new tables: `hooks` (secrets sealed) and `hook_deliveries` (the delivery log).
The downgrade drops them all.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_builds"
down_revision: str | None = "0011_cron"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUILD_COLUMNS = (
    ("queued_at", sa.DateTime()),
    ("started_at", sa.DateTime()),
    ("source_kind", sa.String(length=16)),
    ("commit_sha", sa.String(length=64)),
    ("commit_message", sa.String(length=256)),
    ("branch", sa.String(length=256)),
    ("started_by", sa.String(length=254)),
)


def upgrade() -> None:
    for name, kind in _BUILD_COLUMNS:
        op.add_column("builds", sa.Column(name, kind, nullable=True))
    op.create_table(
        "hooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_hooks_app_id", "hooks", ["app_id"])
    op.create_table(
        "hook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hook_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("delivery", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["hook_id"], ["hooks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_hook_deliveries_hook_id", "hook_deliveries", ["hook_id"])
    op.create_index("ix_hook_deliveries_app_id", "hook_deliveries", ["app_id"])


def downgrade() -> None:
    op.drop_index("ix_hook_deliveries_app_id", table_name="hook_deliveries")
    op.drop_index("ix_hook_deliveries_hook_id", table_name="hook_deliveries")
    op.drop_table("hook_deliveries")
    op.drop_index("ix_hooks_app_id", table_name="hooks")
    op.drop_table("hooks")
    with op.batch_alter_table("builds") as batch:
        for name, _ in reversed(_BUILD_COLUMNS):
            batch.drop_column(name)

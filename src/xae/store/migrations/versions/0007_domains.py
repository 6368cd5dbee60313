"""custom domains of apps, and each app's route settings

Revision ID: 0007_domains
Revises: 0006_build_run_as
Create Date: 2026-12-01 20:00:00.000000

A hostname belongs to one app across all teams (unique); destroying an app removes its
domains (the foreign key cascades). Existing apps keep the router's defaults: no redirect to
HTTPS, the default body limit and read timeout, no scale from zero.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_domains"
down_revision: str | None = "0006_build_run_as"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(length=253), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hostname"),
    )
    op.create_index("ix_domains_app_id", "domains", ["app_id"])
    # Plain ADD COLUMNs: a batch would rebuild `apps` and lose its AUTOINCREMENT.
    op.add_column(
        "apps",
        sa.Column("redirect_https", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("apps", sa.Column("max_body", sa.Integer(), nullable=True))
    op.add_column("apps", sa.Column("read_timeout", sa.Integer(), nullable=True))
    op.add_column(
        "apps",
        sa.Column("scale_from_zero", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("apps", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("scale_from_zero")
        batch.drop_column("read_timeout")
        batch.drop_column("max_body")
        batch.drop_column("redirect_https")
    op.drop_index("ix_domains_app_id", table_name="domains")
    op.drop_table("domains")

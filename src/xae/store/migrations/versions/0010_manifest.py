"""builds keep the app's manifest (xae.yaml or app.json)

Revision ID: 0010_manifest
Revises: 0009_splits
Create Date: 2026-12-01 23:00:00.000000

One nullable JSON column on `builds`: the validated manifest the release applies (config
defaults, required keys, first formation, health check) and the cron jobs come from. Builds
made before this revision have none, as an app without a manifest.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_manifest"
down_revision: str | None = "0009_splits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("builds", sa.Column("manifest", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("builds") as batch:
        batch.drop_column("manifest")

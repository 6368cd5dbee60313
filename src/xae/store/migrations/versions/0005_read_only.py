"""formations may ask for a read-only root filesystem

Revision ID: 0005_read_only
Revises: 0002_release_failure
Create Date: 2026-12-01 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_read_only"
down_revision: str | None = "0004_sealed_config"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing process types keep a writable root filesystem, as before.
    with op.batch_alter_table("formations") as batch:
        batch.add_column(
            sa.Column("read_only", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("formations") as batch:
        batch.drop_column("read_only")

"""builds say which user their image runs as

Revision ID: 0004_build_run_as
Revises: 0002_release_failure
Create Date: 2026-12-01 17:00:00.000000

Builds made before this revision have none: their instances run as the app user, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_build_run_as"
down_revision: str | None = "0005_read_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("builds") as batch:
        batch.add_column(sa.Column("run_as", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("builds") as batch:
        batch.drop_column("run_as")

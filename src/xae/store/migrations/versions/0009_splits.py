"""apps may split their traffic between releases by weight

Revision ID: 0009_splits
Revises: 0008_certificates
Create Date: 2026-12-01 21:00:00.000000

Two columns on `apps`: the split (NULL for every existing app: all traffic to the current
release, as before) and whether it is sticky. The downgrade drops them, ending every split.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_splits"
down_revision: str | None = "0008_certificates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs: a batch would rebuild `apps` and lose its AUTOINCREMENT.
    op.add_column("apps", sa.Column("split", sa.JSON(), nullable=True))
    op.add_column(
        "apps", sa.Column("split_sticky", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    with op.batch_alter_table("apps", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("split_sticky")
        batch.drop_column("split")

"""apps may name the Dockerfile their builds use

Revision ID: 0013_node
Revises: 0012_builds
Create Date: 2026-12-01 23:30:00.000000

One nullable column on `apps` (`xae apps:update --dockerfile deploy/Dockerfile`): NULL for every
existing app, which keeps building as detection decides. The downgrade drops it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_node"
down_revision: str | None = "0012_builds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch would rebuild `apps` and lose its AUTOINCREMENT.
    op.add_column("apps", sa.Column("dockerfile", sa.String(length=256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("apps", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("dockerfile")

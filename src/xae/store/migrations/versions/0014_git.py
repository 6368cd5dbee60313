"""apps have a deploy branch: pushing it builds and rolls out the pushed commit

Revision ID: 0014_git
Revises: 0013_node
Create Date: 2026-12-01 23:00:00.000000

One column on `apps`: the branch whose pushes deploy (`main` for every existing app, as for a
new one). The downgrade drops it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_git"
down_revision: str | None = "0013_node"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch would rebuild `apps` and lose its AUTOINCREMENT.
    op.add_column(
        "apps",
        sa.Column("deploy_branch", sa.String(255), nullable=False, server_default="main"),
    )


def downgrade() -> None:
    with op.batch_alter_table("apps", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("deploy_branch")

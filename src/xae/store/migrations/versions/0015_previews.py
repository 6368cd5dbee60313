"""preview apps per branch; builds remember that garbage collection removed their image

Revision ID: 0015_previews
Revises: 0014_git
Create Date: 2026-12-01 23:30:00.000000

A `previews` table (parent app, branch, preview app, last push), a column on `apps` saying
whether previews are on (their idle time; NULL, off, for every existing app) and one on `builds`
with when GC removed the image (NULL for every existing build: its image is where it was).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_previews"
down_revision: str | None = "0014_git"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs: a batch would rebuild `apps` and lose its AUTOINCREMENT.
    op.add_column("apps", sa.Column("previews_idle", sa.Integer(), nullable=True))
    op.add_column("builds", sa.Column("image_collected_at", sa.DateTime(), nullable=True))
    op.create_table(
        "previews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("branch", sa.String(length=255), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_push_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["apps.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id"),
    )
    op.create_index("ix_previews_parent_id", "previews", ["parent_id"])


def downgrade() -> None:
    op.drop_index("ix_previews_parent_id", table_name="previews")
    op.drop_table("previews")
    with op.batch_alter_table("builds") as batch:
        batch.drop_column("image_collected_at")
    with op.batch_alter_table("apps", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("previews_idle")

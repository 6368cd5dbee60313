"""TLS certificates uploaded by apps, keys sealed

Revision ID: 0008_certificates
Revises: 0007_domains
Create Date: 2026-12-01 20:00:00.000000

A new table only: nothing existing changes, so the downgrade drops it (the keys it held go
with it; they were sealed, never in plain text on disk).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_certificates"
down_revision: str | None = "0007_domains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=254), nullable=False),
        sa.Column("hosts", sa.JSON(), nullable=False),
        sa.Column("issuer", sa.String(length=254), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=False),
        sa.Column("not_after", sa.DateTime(), nullable=False),
        sa.Column("chain_pem", sa.Text(), nullable=False),
        sa.Column("key_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False, server_default="upload"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_certificates_app_id", "certificates", ["app_id"])


def downgrade() -> None:
    op.drop_index("ix_certificates_app_id", table_name="certificates")
    op.drop_table("certificates")

"""cron jobs of apps and the history of their runs

Revision ID: 0011_cron
Revises: 0010_manifest
Create Date: 2026-12-01 23:30:00.000000

Two new tables, `cron_jobs` (one row per job of an app: its schedule, zone, command, overlap
policy and where it came from) and `cron_runs` (each run's times, exit code and output's
tail). Both go with their app (ON DELETE CASCADE). The downgrade drops them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_cron"
down_revision: str | None = "0010_manifest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cron_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "app_id", sa.Integer(), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(30), nullable=False),
        sa.Column("schedule", sa.String(100), nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("overlap", sa.String(8), nullable=False),
        sa.Column("timeout", sa.Float(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("next_run_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(254), nullable=False),
        sa.UniqueConstraint("app_id", "name"),
    )
    op.create_index("ix_cron_jobs_app_id", "cron_jobs", ["app_id"])
    op.create_index("ix_cron_jobs_next_run_at", "cron_jobs", ["next_run_at"])
    op.create_table(
        "cron_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "job_id",
            sa.Integer(),
            sa.ForeignKey("cron_jobs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "app_id", sa.Integer(), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("release", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("output", sa.Text(), nullable=False),
    )
    op.create_index("ix_cron_runs_job_id", "cron_runs", ["job_id"])
    op.create_index("ix_cron_runs_app_id", "cron_runs", ["app_id"])


def downgrade() -> None:
    op.drop_table("cron_runs")
    op.drop_table("cron_jobs")

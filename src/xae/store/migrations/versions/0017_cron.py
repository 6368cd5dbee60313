"""cron runs remember the Kubernetes Job that ran them

Revision ID: 0017_cron
Revises: 0016_mends
Create Date: 2026-12-02 03:10:00.000000

On kubernetes a cron job is a CronJob and the cluster starts its Jobs; the control plane's
watcher records each as a run and needs to find its row again: `cron_runs.backend_ref` is the
Job's name (NULL for every existing run and for every run on docker).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_cron"
down_revision: str | None = "0016_mends"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cron_runs", sa.Column("backend_ref", sa.String(length=80), nullable=True))
    op.create_index("ix_cron_runs_backend_ref", "cron_runs", ["backend_ref"])


def downgrade() -> None:
    op.drop_index("ix_cron_runs_backend_ref", table_name="cron_runs")
    op.drop_column("cron_runs", "backend_ref")

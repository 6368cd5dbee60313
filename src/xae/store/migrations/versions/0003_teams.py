"""teams own apps; tokens are named and scoped; the audit trail says who, from where, on what

Revision ID: 0003_teams
Revises: 0002_release_failure
Create Date: 2026-12-01 17:00:00.000000

Existing installations keep every app, user and token, and everyone keeps seeing exactly what
they saw: apps of admins move to a team `default` whose owners are the admins; each other user
who owned apps gets a team of their own (named after them) as its owner. Existing tokens become
`admin`-scoped tokens named `login` (what they could do before). Users without apps join no team
until an owner adds them.
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_teams"
down_revision: str | None = "0002_release_failure"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_TEAM = "default"


def _team_name(user_name: str, taken: set[str]) -> str:
    """A valid, free team name for a user's own team (team names are like app names)."""
    base = re.sub(r"[^a-z0-9]+", "-", user_name.split("@")[0].lower()).strip("-")[:24]
    if not base or not base[0].isalpha():
        base = "team-" + base if base else "team"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "user_id"),
    )
    with op.batch_alter_table("memberships") as batch:
        batch.create_index("ix_memberships_team_id", ["team_id"])
        batch.create_index("ix_memberships_user_id", ["user_id"])

    conn = op.get_bind()
    now = sa.func.current_timestamp()
    users = conn.execute(sa.text("SELECT id, name, is_admin FROM users ORDER BY id")).all()
    owners = {row[0] for row in conn.execute(sa.text("SELECT DISTINCT owner_id FROM apps")).all()}
    taken = {DEFAULT_TEAM}
    team_of_user: dict[int, int] = {}
    teams = sa.table(
        "teams", sa.column("id", sa.Integer), sa.column("name"), sa.column("created_at")
    )
    memberships = sa.table(
        "memberships",
        sa.column("team_id", sa.Integer),
        sa.column("user_id", sa.Integer),
        sa.column("role"),
        sa.column("created_at"),
    )

    def new_team(name: str) -> int:
        conn.execute(sa.insert(teams).values(name=name, created_at=now))
        return int(
            conn.execute(sa.text("SELECT id FROM teams WHERE name = :n"), {"n": name}).scalar_one()
        )

    admins = [u for u in users if u.is_admin]
    if admins or owners:
        default = new_team(DEFAULT_TEAM)
        for admin in admins:
            team_of_user[admin.id] = default
            conn.execute(
                sa.insert(memberships).values(
                    team_id=default, user_id=admin.id, role="owner", created_at=now
                )
            )
    for user in users:
        if user.id in owners and user.id not in team_of_user:
            team = new_team(_team_name(user.name, taken))
            team_of_user[user.id] = team
            conn.execute(
                sa.insert(memberships).values(
                    team_id=team, user_id=user.id, role="owner", created_at=now
                )
            )

    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
    for user_id, team_id in team_of_user.items():
        conn.execute(
            sa.text("UPDATE apps SET team_id = :team WHERE owner_id = :user"),
            {"team": team_id, "user": user_id},
        )
    # AUTOINCREMENT: an id is never given twice, so a request authorized for one app can tell
    # it from a later app of the same name (SQLite would otherwise reuse the highest id).
    with op.batch_alter_table(
        "apps", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.alter_column("team_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_apps_team_id", "teams", ["team_id"], ["id"])
        batch.create_index("ix_apps_team_id", ["team_id"])
        batch.drop_column("owner_id")

    with op.batch_alter_table("users") as batch:
        batch.alter_column("name", existing_type=sa.String(64), type_=sa.String(254))

    with op.batch_alter_table("tokens") as batch:
        batch.add_column(
            sa.Column("name", sa.String(length=64), nullable=False, server_default="login")
        )
        batch.add_column(
            sa.Column("scope", sa.String(length=16), nullable=False, server_default="admin")
        )
        batch.add_column(sa.Column("app_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(), nullable=True))
        batch.create_foreign_key("fk_tokens_app_id", "apps", ["app_id"], ["id"], ondelete="CASCADE")
        batch.create_index("ix_tokens_user_id", ["user_id"])

    with op.batch_alter_table("events") as batch:
        batch.alter_column("actor", existing_type=sa.String(64), type_=sa.String(254))
        batch.alter_column("target", existing_type=sa.String(128), type_=sa.String(254))
        batch.add_column(sa.Column("token_name", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("source", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("app", sa.String(length=30), nullable=True))
        batch.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
        batch.create_index("ix_events_app", ["app"])
        batch.create_index("ix_events_team_id", ["team_id"])
    # Earlier events of apps that still exist become readable by those apps' team owners.
    conn.execute(
        sa.text(
            "UPDATE events SET app = target, team_id = "
            "(SELECT apps.team_id FROM apps WHERE apps.name = events.target) "
            "WHERE target IN (SELECT name FROM apps)"
        )
    )


def downgrade() -> None:
    raise NotImplementedError(
        "teams cannot be folded back into single owners; restore the state dir's backup instead"
    )

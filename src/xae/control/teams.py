"""Teams and their members: who owns apps together, and in which role.

A team always keeps at least one owner, so no app is left without someone who may destroy or
move it; a team with apps cannot be deleted (move or destroy them first). Every change is
recorded in the audit trail under the team, where its owners read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xae.auth.policy import Principal, team_not_found
from xae.control.audit import Actor, record
from xae.domain.access import DESCRIPTIONS, Action, Role, role_allows
from xae.domain.names import validate_team_name, validate_user_name
from xae.errors import AlreadyExists, Forbidden, InvalidInput, NotFound
from xae.store.models import App, Membership, Team, User

DEFAULT_TEAM = "default"


def get_team(session: Session, name: str) -> Team:
    team = session.scalar(select(Team).where(Team.name == name))
    if team is None:
        raise team_not_found(name)
    return team


def default_team(session: Session, principal: Principal, action: Action) -> Team:
    """The team a command means when it names none: the caller's only team where `action` is
    allowed (for an admin in no team: the platform's only team)."""
    allowed = [t for t, role in principal.roles.items() if role_allows(role, action)]
    if not allowed and principal.is_admin:
        allowed = list(session.scalars(select(Team.id)))
    rows = list(session.scalars(select(Team).where(Team.id.in_(allowed)).order_by(Team.name)))
    if len(rows) == 1:
        return rows[0]
    if not rows:
        raise InvalidInput(
            f"you are in no team that allows {DESCRIPTIONS[action]}: make one "
            "(`xae teams:create NAME`), or ask a team's owner to add you"
        )
    names = ", ".join(t.name for t in rows[:10])
    raise InvalidInput(f"you are in {len(rows)} teams ({names}): say which one with --team TEAM")


def ensure_default_team(session: Session, admin: User) -> str | None:
    """Make the team `default`, owned by `admin`, if the platform has no team yet; return its
    name if it was made."""
    if session.scalar(select(func.count()).select_from(Team)):
        return None
    team = Team(name=DEFAULT_TEAM)
    session.add(team)
    session.flush()
    session.add(Membership(team_id=team.id, user_id=admin.id, role=Role.OWNER))
    record(session, Actor(admin.name), "team.create", DEFAULT_TEAM, team_id=team.id)
    return DEFAULT_TEAM


def create_team(session: Session, actor: Principal, name: str) -> Team:
    """A new team, owned by whoever makes it."""
    validate_team_name(name)
    if session.scalar(select(Team).where(Team.name == name)) is not None:
        raise AlreadyExists(f"a team named {name!r} already exists: pick another name")
    team = Team(name=name)
    try:
        session.add(team)
        session.flush()
    except IntegrityError as e:
        raise AlreadyExists(f"a team named {name!r} already exists: pick another name") from e
    session.add(Membership(team_id=team.id, user_id=actor.user_id, role=Role.OWNER))
    record(session, Actor.of(actor), "team.create", name, team_id=team.id)
    return team


@dataclass(frozen=True)
class Member:
    name: str
    role: Role


def members(session: Session, team: Team) -> list[Member]:
    rows = session.execute(
        select(User.name, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.team_id == team.id)
        .order_by(User.name)
    ).all()
    return [Member(name, role) for name, role in rows]


def app_names(session: Session, team: Team) -> list[str]:
    return list(session.scalars(select(App.name).where(App.team_id == team.id).order_by(App.name)))


def set_member(
    session: Session, actor: Principal, team: Team, user_name: str, role: Role
) -> Member:
    """Add `user_name` to `team` in `role`, or change their role."""
    user_name = validate_user_name(user_name)
    user = session.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise NotFound(
            f"there is no user {user_name!r}: a platform admin creates users "
            f"(`xae users:create {user_name}`)"
        )
    membership = session.scalar(
        select(Membership).where(Membership.team_id == team.id, Membership.user_id == user.id)
    )
    before = membership.role if membership is not None else None
    if membership is None:
        session.add(Membership(team_id=team.id, user_id=user.id, role=role))
    else:
        if before == Role.OWNER and role != Role.OWNER:
            _keep_an_owner(session, team, user.id)
        membership.role = role
    record(
        session,
        Actor.of(actor),
        "team.member.set",
        team.name,
        team_id=team.id,
        details={"user": user_name, "role": str(role), "was": str(before) if before else None},
    )
    return Member(user_name, role)


def remove_member(session: Session, actor: Principal, team: Team, user_name: str) -> None:
    user_name = validate_user_name(user_name)
    user = session.scalar(select(User).where(User.name == user_name))
    membership = (
        session.scalar(
            select(Membership).where(Membership.team_id == team.id, Membership.user_id == user.id)
        )
        if user is not None
        else None
    )
    if user is None or membership is None:
        raise NotFound(f"{user_name!r} is not a member of team {team.name!r}")
    if membership.role == Role.OWNER:
        _keep_an_owner(session, team, user.id)
    session.delete(membership)
    record(
        session,
        Actor.of(actor),
        "team.member.remove",
        team.name,
        team_id=team.id,
        details={"user": user_name},
    )


def delete_team(session: Session, actor: Principal, team: Team) -> None:
    apps = app_names(session, team)
    if apps:
        raise InvalidInput(
            f"team {team.name!r} still has {len(apps)} app(s) ({', '.join(apps[:5])}): move "
            "them (`xae apps:transfer APP --team OTHER`) or destroy them first"
        )
    session.delete(team)
    record(session, Actor.of(actor), "team.delete", team.name, team_id=team.id)


def _keep_an_owner(session: Session, team: Team, leaving_user_id: int) -> None:
    others = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.team_id == team.id,
            Membership.role == Role.OWNER,
            Membership.user_id != leaving_user_id,
        )
    )
    if not others:
        raise Forbidden(
            f"team {team.name!r} would have no owner left: make someone else an owner first "
            f"(`xae teams:members:add EMAIL --team {team.name} --role owner`)"
        )

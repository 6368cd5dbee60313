"""The platform's users, managed by admins: create (with a generated password, shown once),
list, remove. Removing a user removes their tokens and memberships; a team's last owner cannot
be removed (make someone else its owner first), so no team is left without one."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xae.auth.policy import Principal
from xae.auth.tokens import create_user as _create_user
from xae.control.audit import record
from xae.domain.access import Role
from xae.domain.names import validate_user_name
from xae.errors import Forbidden, InvalidInput, NotFound
from xae.store.models import Membership, Team, User


def new_password() -> str:
    return secrets.token_urlsafe(18)


def create_user(
    session: Session, actor: Principal, name: str, password: str | None, *, admin: bool
) -> tuple[User, str | None]:
    """The new user, and the generated password if none was given."""
    generated = new_password() if password is None else None
    user = _create_user(session, name, password or generated or "", is_admin=admin)
    record(session, actor, "user.create", name, details={"admin": admin})
    return user, generated


def remove_user(session: Session, actor: Principal, name: str) -> None:
    name = validate_user_name(name)
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"there is no user {name!r}: `xae users` lists them")
    if user.id == actor.user_id:
        raise InvalidInput("you cannot remove yourself: ask another admin")
    for membership in session.scalars(
        select(Membership).where(Membership.user_id == user.id, Membership.role == Role.OWNER)
    ):
        owners = session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.team_id == membership.team_id, Membership.role == Role.OWNER)
        )
        if owners == 1:
            team = session.get(Team, membership.team_id)
            team_name = team.name if team else "?"
            raise Forbidden(
                f"{name!r} is the last owner of team {team_name!r}: make someone else its "
                f"owner first (`xae teams:members:add EMAIL --team {team_name} --role owner`)"
            )
    session.delete(user)
    record(session, actor, "user.remove", name)

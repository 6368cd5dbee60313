"""Teams: create, list, inspect, delete; add, change and remove members."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from xae.api.deps import PlatformDep
from xae.api.guards import CreatesTeam, Self, TeamManage, TeamRead
from xae.api.pagination import PageDep, page
from xae.api.responses import errors
from xae.api.schemas import Member, MemberSet, TeamCreate, TeamInfo, TeamPublic
from xae.control import teams as service
from xae.domain.access import Role
from xae.store.models import Team

router = APIRouter(prefix="/v1/teams", tags=["teams"])


@router.get("")
def list_teams(
    p: PlatformDep, principal: Self, pages: PageDep, request: Request, response: Response
) -> list[TeamPublic]:
    """The caller's teams with their role in each (all teams, for admins), by name."""
    query = select(Team).order_by(Team.name).limit(pages.limit + 1)
    visible = principal.visible_team_ids()
    if visible is not None:
        query = query.where(Team.id.in_(visible))
    if principal.app_id is not None:
        query = query.where(Team.id.in_([]))
    if pages.after is not None:
        query = query.where(Team.name > pages.after)
    with p.db.session() as session:
        rows = list(session.scalars(query))
    return [
        TeamPublic(name=t.name, role=principal.roles.get(t.id), created_at=t.created_at)
        for t in page(rows, pages, lambda t: t.name, request, response)
    ]


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(409))
def create_team(body: TeamCreate, p: PlatformDep, principal: CreatesTeam) -> TeamInfo:
    with p.db.session() as session:
        team = service.create_team(session, principal, body.name)
        return _info(session, team, principal.roles.get(team.id) or Role.OWNER)


@router.get("/{team}")
def team_info(team: TeamRead, p: PlatformDep, principal: Self) -> TeamInfo:
    with p.db.session() as session:
        return _info(session, team, principal.roles.get(team.id))


@router.delete("/{team}", status_code=status.HTTP_204_NO_CONTENT)
def delete_team(team: TeamManage, p: PlatformDep, principal: Self) -> Response:
    with p.db.session() as session:
        service.delete_team(session, principal, session.merge(team))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{team}/members/{user}")
def set_member(
    team: TeamManage, user: str, body: MemberSet, p: PlatformDep, principal: Self
) -> Member:
    """Add `user` (an e-mail address) to the team in `role`, or change their role."""
    with p.db.session() as session:
        member = service.set_member(session, principal, team, user, body.role)
    return Member(user=member.name, role=member.role)


@router.delete("/{team}/members/{user}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(team: TeamManage, user: str, p: PlatformDep, principal: Self) -> Response:
    with p.db.session() as session:
        service.remove_member(session, principal, team, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _info(session: Session, team: Team, role: Role | None) -> TeamInfo:
    return TeamInfo(
        name=team.name,
        role=role,
        created_at=team.created_at,
        members=[Member(user=m.name, role=m.role) for m in service.members(session, team)],
        apps=service.app_names(session, team),
    )

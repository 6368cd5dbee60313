"""Users: platform admins create, list and remove them."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import select

from xae.api.deps import PlatformDep
from xae.api.guards import ManagesUsers
from xae.api.pagination import PageDep, page
from xae.api.responses import errors
from xae.api.schemas import UserCreate, UserCreated, UserPublic
from xae.control import users as service
from xae.store.models import User

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.get("")
def list_users(
    p: PlatformDep, _: ManagesUsers, pages: PageDep, request: Request, response: Response
) -> list[UserPublic]:
    query = select(User).order_by(User.name).limit(pages.limit + 1)
    if pages.after is not None:
        query = query.where(User.name > pages.after)
    with p.db.session() as session:
        rows = list(session.scalars(query))
    return [
        UserPublic(name=u.name, is_admin=u.is_admin, created_at=u.created_at)
        for u in page(rows, pages, lambda u: u.name, request, response)
    ]


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(409))
def create_user(body: UserCreate, p: PlatformDep, principal: ManagesUsers) -> UserCreated:
    with p.db.session() as session:
        user, password = service.create_user(
            session, principal, body.name, body.password, admin=body.admin
        )
        return UserCreated(
            name=user.name, is_admin=user.is_admin, created_at=user.created_at, password=password
        )


@router.delete("/{user}", status_code=status.HTTP_204_NO_CONTENT)
def remove_user(user: str, p: PlatformDep, principal: ManagesUsers) -> Response:
    with p.db.session() as session:
        service.remove_user(session, principal, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

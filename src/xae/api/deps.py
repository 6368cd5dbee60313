"""FastAPI dependencies: the platform, the database session and the authenticated user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from xae.auth.tokens import authenticate
from xae.control.platform import Platform
from xae.errors import Unauthorized
from xae.store.models import User

_bearer = HTTPBearer(auto_error=False)


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def get_session(platform: PlatformDep) -> Iterator[Session]:
    with platform.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def current_user(
    platform: PlatformDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None:
        raise Unauthorized("no token given: run `xae login`")
    with platform.db.session() as session:
        user = authenticate(session, credentials.credentials)
        session.expunge(user)
    return user


UserDep = Annotated[User, Depends(current_user)]

"""FastAPI dependencies: the platform, the database session and the caller (`Principal`).

Authorization is not here: every route declares the one action it performs with a guard from
`xae.api.guards`, which loads the object the path names and asks `xae.auth.policy`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from xae.auth.policy import Principal
from xae.auth.tokens import authenticate
from xae.control.platform import Platform
from xae.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False)


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def get_session(platform: PlatformDep) -> Iterator[Session]:
    with platform.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def current_principal(
    request: Request,
    platform: PlatformDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Who the bearer token speaks for; 401 without a valid one."""
    if credentials is None:
        raise Unauthorized("no token given: run `xae login`")
    address = request.client.host if request.client else None
    with platform.db.session() as session:
        return authenticate(session, credentials.credentials, address)


PrincipalDep = Annotated[Principal, Depends(current_principal)]

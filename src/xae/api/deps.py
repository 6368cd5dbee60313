"""FastAPI dependencies: the platform, the database session and the caller (`Principal`).

Authorization is not here: every route declares the one action it performs with a guard from
`xae.api.guards`, which loads the object the path names and asks `xae.auth.policy`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from xae.auth.policy import Principal
from xae.auth.tokens import authenticate
from xae.control.platform import Platform
from xae.errors import GitAuthRequired, Unauthorized

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


def basic_password(authorization: str | None) -> str | None:
    """The password of an HTTP Basic `Authorization` header (git sends the token there, with
    any user name); a bearer token is taken as is. None when there is neither."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, sep, password = decoded.partition(":")
    return password if sep and password else None


def git_principal(request: Request, platform: PlatformDep) -> Principal:
    """Who a git client speaks for: the token is the Basic password. Without a valid one, 401
    with a Basic challenge, so git asks its credential helper and tries again."""
    token = basic_password(request.headers.get("authorization"))
    if token is None:
        raise GitAuthRequired(
            "no token given: run `xae git:remote --app APP` in this repository (it sets up the "
            "credential helper), or `xae login`"
        )
    address = request.client.host if request.client else None
    try:
        with platform.db.session() as session:
            return authenticate(session, token, address)
    except Unauthorized as e:
        raise GitAuthRequired(f"{e.message} (git sends the token as the password)") from e


GitPrincipalDep = Annotated[Principal, Depends(git_principal)]

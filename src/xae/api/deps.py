"""FastAPI dependencies: the platform, the database session, the authenticated user and the
app a path names (`AppDep`).

`AppDep` is the one place where a request's app is looked up and authorized (`xae.auth.policy`):
a handler that acts on an app takes it and never looks the app up or authorizes it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from xae.auth.policy import authorize_app
from xae.auth.tokens import authenticate
from xae.control.apps import get_app
from xae.control.platform import Platform
from xae.domain.names import validate_app_name
from xae.errors import Unauthorized
from xae.store.models import App, User

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


def authorized_app(name: str, platform: PlatformDep, user: UserDep) -> App:
    """The app the path's `name` names, loaded once and authorized for the caller.

    A missing app and someone else's answer the same (`xae.auth.policy.app_not_found`). The row
    comes back detached from its session, with its owner and current release loaded: handlers
    read it as it was at the start of the request. Services that change the app re-read it
    under the app's lock, since the state a change starts from must be read inside it.

    A name that cannot be an app's is refused (422, saying what a name may be) before anything
    is looked up: it tells nothing about which apps exist, since none can have it."""
    validate_app_name(name)
    with platform.db.session() as session:
        app = get_app(session, name)
        authorize_app(user, app)
        # Loaded now, while the session is open: the views read them from the detached row.
        _ = app.owner, app.current_release
    return app


AppDep = Annotated[App, Depends(authorized_app)]

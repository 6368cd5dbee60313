"""Tokens: log in with a user name and password, get a bearer token.

Logging in is throttled per user name and per client address (`xae.auth.throttle`); every
failure gets the same 401 after the same work, whether or not the user exists.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import APIRouter, Request, status

from xae.api.deps import PlatformDep, UserDep
from xae.api.responses import errors
from xae.api.schemas import TokenCreate, TokenPublic, WhoAmI
from xae.auth.throttle import LoginThrottle
from xae.auth.tokens import login
from xae.control.audit import record
from xae.errors import Unauthorized

router = APIRouter(prefix="/v1/auth", tags=["auth"])
log = logging.getLogger("xae.api.auth")


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 429),
)
def create_token(body: TokenCreate, request: Request, p: PlatformDep) -> TokenPublic:
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else "unknown"
    attempt = throttle.attempt(body.username, address)
    with p.db.session() as session:
        try:
            issued = login(
                session, body.username, body.password, timedelta(days=p.settings.token_ttl_days)
            )
        except Unauthorized:
            log.warning("failed login for user name %r from %s", body.username[:64], address)
            raise
        record(session, body.username, "auth.login", body.username)
    throttle.succeeded(attempt)
    return TokenPublic(token=issued.token, expires_at=issued.expires_at)


@router.get("/whoami")
def whoami(user: UserDep) -> WhoAmI:
    return WhoAmI(username=user.name, is_admin=user.is_admin)

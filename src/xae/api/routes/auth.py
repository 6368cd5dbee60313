"""Tokens: log in with a user name and password, get a bearer token.

Logging in is throttled per user name and per client address (`xae.auth.throttle`); every
failure gets the same 401 after the same work, whether or not the user exists.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import APIRouter, Request, status
from sqlalchemy import select

from xae.api.deps import PlatformDep
from xae.api.guards import PUBLIC, Self
from xae.api.responses import errors
from xae.api.schemas import TeamRole, TokenCreate, TokenInfo, TokenPublic, WhoAmI
from xae.auth.throttle import LoginThrottle
from xae.auth.tokens import login
from xae.control.audit import Actor, record
from xae.errors import Unauthorized
from xae.store.models import App, Team, Token

router = APIRouter(prefix="/v1/auth", tags=["auth"])
log = logging.getLogger("xae.api.auth")


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 429),
    dependencies=[PUBLIC],
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
        # Filed under no team: admins read it.
        record(session, Actor(body.username, None, address), "auth.login", body.username)
    throttle.succeeded(attempt)
    return TokenPublic(token=issued.token, expires_at=issued.expires_at)


@router.get("/whoami")
def whoami(principal: Self, p: PlatformDep) -> WhoAmI:
    """The caller: user, admin or not, their role in each team, and this token's limits."""
    with p.db.session() as session:
        names = dict(
            session.execute(select(Team.id, Team.name).where(Team.id.in_(principal.roles)))
            .tuples()
            .all()
        )
        token = session.get(Token, principal.token_id) if principal.token_id else None
        app = session.get(App, principal.app_id) if principal.app_id else None
        return WhoAmI(
            username=principal.name,
            is_admin=principal.is_admin,
            token=TokenInfo(
                name=principal.token_name,
                scope=principal.scope,
                app=app.name if app else None,
                expires_at=token.expires_at if token else None,
            ),
            teams=sorted(
                (TeamRole(team=names[t], role=r) for t, r in principal.roles.items() if t in names),
                key=lambda tr: tr.team,
            ),
        )

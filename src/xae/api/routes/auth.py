"""Tokens: log in with a user name and password, get a bearer token."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, status

from xae.api.deps import PlatformDep, UserDep
from xae.api.schemas import TokenCreate, TokenPublic, WhoAmI
from xae.auth.tokens import login
from xae.control.audit import record

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, p: PlatformDep) -> TokenPublic:
    with p.db.session() as session:
        issued = login(
            session, body.username, body.password, timedelta(days=p.settings.token_ttl_days)
        )
        record(session, body.username, "auth.login", body.username)
    return TokenPublic(token=issued.token, expires_at=issued.expires_at)


@router.get("/whoami")
def whoami(user: UserDep) -> WhoAmI:
    return WhoAmI(username=user.name, is_admin=user.is_admin)

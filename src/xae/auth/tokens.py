"""Users and bearer tokens.

Tokens are random and shown once; the store keeps only their SHA-256, so a leaked database
does not leak working credentials. Each token is named, scoped (`xae.domain.access.Scope`),
expires, and may be limited to one app; `authenticate` turns one into the `Principal` that
`xae.auth.policy` judges, with the user's team roles read in the same lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from xae.auth.passwords import (
    hash_password,
    needs_rehash,
    unknown_user_hash,
    verify_password,
)
from xae.auth.policy import Principal
from xae.domain.access import Scope
from xae.domain.names import validate_user_name
from xae.errors import AlreadyExists, InvalidInput, Unauthorized
from xae.store.models import Membership, Token, User, utcnow

TOKEN_PREFIX = "xae_"


LAST_USED_PRECISION = timedelta(minutes=1)
"""How stale a token's `last_used_at` may be: it is written at most this often, so that
reading the API does not write to the store on every request."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    id: int = 0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, name: str, password: str, *, is_admin: bool = False) -> User:
    name = validate_user_name(name)
    if len(password) < 8:
        raise InvalidInput("passwords need at least 8 characters")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise AlreadyExists(f"user {name!r} already exists")
    user = User(name=name, password_hash=hash_password(password), is_admin=is_admin)
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, name: str, password: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise InvalidInput(f"no user {name!r}")
    user.password_hash = hash_password(password)
    return user


def revoke_tokens(session: Session, user: User) -> int:
    """Delete every token of `user` (after a password reset); return how many there were."""
    tokens = list(session.scalars(select(Token).where(Token.user_id == user.id)))
    for token in tokens:
        session.delete(token)
    return len(tokens)


def issue_token(
    session: Session,
    user: User,
    ttl: timedelta,
    *,
    name: str = "login",
    scope: Scope = Scope.ADMIN,
    app_id: int | None = None,
) -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = utcnow() + ttl
    row = Token(
        user_id=user.id,
        token_hash=_digest(token),
        expires_at=expires_at,
        name=name,
        scope=scope,
        app_id=app_id,
    )
    session.add(row)
    session.flush()
    return IssuedToken(token=token, expires_at=expires_at, id=row.id)


LOGIN_FAILED = "wrong user name or password"
"""The one answer to every failed login: it never says which of the two was wrong."""


def login(session: Session, name: str, password: str, ttl: timedelta) -> IssuedToken:
    """A token for `name`; `Unauthorized` with `LOGIN_FAILED` otherwise, after the same work
    (one full password check) whether or not the user exists.

    A password stored the old way (scrypt, or argon2id with other parameters) is hashed again
    with today's parameters once it has been proved right: the row is updated here."""
    if "@" in name:
        name = name.lower()  # addresses are stored lower-cased
    user = session.scalar(select(User).where(User.name == name))
    stored = user.password_hash if user is not None else unknown_user_hash()
    matches = verify_password(password, stored)
    if user is None or not matches:
        raise Unauthorized(LOGIN_FAILED)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return issue_token(session, user, ttl)


def token_row(session: Session, token: str, valid_for: timedelta = timedelta(0)) -> Token:
    """The stored token a bearer token is; `Unauthorized` if it is unknown (or revoked),
    expired, or expires within `valid_for`."""
    row = session.scalar(select(Token).where(Token.token_hash == _digest(token)))
    if row is None:
        raise Unauthorized("the token is not valid (revoked, or never issued): run `xae login`")
    now = utcnow()
    if row.expires_at <= now + valid_for:
        raise Unauthorized("the token has expired: run `xae login` again")
    return row


def authenticate(session: Session, token: str, address: str | None = None) -> Principal:
    """Who a bearer token speaks for, with its limits and the user's team roles."""
    row = token_row(session, token)
    now = utcnow()
    if row.last_used_at is None or row.last_used_at < now - LAST_USED_PRECISION:
        row.last_used_at = now
    user = row.user
    roles = {
        m.team_id: m.role
        for m in session.scalars(select(Membership).where(Membership.user_id == user.id))
    }
    return Principal(
        user_id=user.id,
        name=user.name,
        is_admin=user.is_admin,
        scope=row.scope,
        token_id=row.id,
        token_name=row.name,
        app_id=row.app_id,
        roles=roles,
        address=address,
    )

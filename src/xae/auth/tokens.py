"""Users and bearer tokens.

Tokens are random and shown once; the store keeps only their SHA-256, so a leaked database
does not leak working credentials.
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
from xae.errors import AlreadyExists, InvalidInput, Unauthorized
from xae.store.models import Token, User, utcnow

TOKEN_PREFIX = "xae_"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, name: str, password: str, *, is_admin: bool = False) -> User:
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput("user names are 1-64 letters, digits, '-' or '_'")
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


def issue_token(session: Session, user: User, ttl: timedelta) -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = utcnow() + ttl
    session.add(Token(user_id=user.id, token_hash=_digest(token), expires_at=expires_at))
    return IssuedToken(token=token, expires_at=expires_at)


LOGIN_FAILED = "wrong user name or password"
"""The one answer to every failed login: it never says which of the two was wrong."""


def login(session: Session, name: str, password: str, ttl: timedelta) -> IssuedToken:
    """A token for `name`; `Unauthorized` with `LOGIN_FAILED` otherwise, after the same work
    (one full password check) whether or not the user exists.

    A password stored the old way (scrypt, or argon2id with other parameters) is hashed again
    with today's parameters once it has been proved right: the row is updated here."""
    user = session.scalar(select(User).where(User.name == name))
    stored = user.password_hash if user is not None else unknown_user_hash()
    matches = verify_password(password, stored)
    if user is None or not matches:
        raise Unauthorized(LOGIN_FAILED)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return issue_token(session, user, ttl)


def authenticate(session: Session, token: str, valid_for: timedelta = timedelta(0)) -> User:
    """The user a bearer token belongs to; `Unauthorized` if it is unknown, expired, or
    expires within `valid_for`."""
    row = session.scalar(select(Token).where(Token.token_hash == _digest(token)))
    if row is None:
        raise Unauthorized("the token is not valid: run `xae login`")
    if row.expires_at <= utcnow() + valid_for:
        raise Unauthorized("the token has expired: run `xae login` again")
    return row.user

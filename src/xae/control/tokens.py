"""API tokens a user makes for scripts and CI: named, scoped, expiring, optionally limited to
one app; listed and revoked by their owner. A token never grants more than its maker's roles
allow at the time it is used."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from xae.auth.policy import Principal, authorize_app
from xae.auth.tokens import IssuedToken, issue_token
from xae.control.apps import get_app
from xae.control.audit import record
from xae.domain.access import Action, Scope, scope_at_most
from xae.errors import Forbidden, NotFound
from xae.store.models import App, Token, User


def create_token(
    session: Session,
    principal: Principal,
    name: str,
    scope: Scope,
    app_name: str | None,
    ttl: timedelta,
) -> tuple[IssuedToken, App | None]:
    if not scope_at_most(scope, principal.scope):
        raise Forbidden(
            f"a token of scope {principal.scope} cannot make one of scope {scope}: "
            "log in again (`xae login`) for an admin-scoped token"
        )
    app = None
    if app_name is not None:
        app = get_app(session, app_name)
        needed = Action.APP_READ if scope == Scope.READ else Action.APP_DEPLOY
        authorize_app(principal, app, needed, writes=False)
    user = session.get(User, principal.user_id)
    assert user is not None
    issued = issue_token(session, user, ttl, name=name, scope=scope, app_id=app.id if app else None)
    record(
        session,
        principal,
        "token.create",
        name,
        app=app.name if app else None,
        details={"scope": str(scope), "app": app_name, "expires_at": issued.expires_at.isoformat()},
    )
    return issued, app


def own_tokens(
    session: Session, principal: Principal, *, after_id: int | None, limit: int
) -> list[Token]:
    query = select(Token).where(Token.user_id == principal.user_id).order_by(Token.id).limit(limit)
    if after_id is not None:
        query = query.where(Token.id > after_id)
    return list(session.scalars(query))


def revoke(session: Session, principal: Principal, token_id: int) -> Token:
    """Revoke one of the caller's own tokens (someone else's answers as missing)."""
    row = session.get(Token, token_id)
    if row is None or row.user_id != principal.user_id:
        raise NotFound(f"you have no token {token_id}: `xae tokens` lists yours")
    session.delete(row)
    record(session, principal, "token.revoke", row.name, details={"id": token_id})
    return row


def app_names(session: Session, tokens: list[Token]) -> dict[int, str]:
    ids = {t.app_id for t in tokens if t.app_id is not None}
    if not ids:
        return {}
    return dict(session.execute(select(App.id, App.name).where(App.id.in_(ids))).tuples().all())

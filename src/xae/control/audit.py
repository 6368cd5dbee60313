"""The audit trail: every state change records who did what to what, from where, and how it
ended.

Who is the user and the token's name; from where is the client's address; what is the action,
its target and its parameters. Parameters never carry secrets: config changes record the keys
they touch, never values (callers pass only names). An event is filed under its app and team, so
a team's owners can read their part of the trail and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xae.auth.policy import Principal
from xae.store.models import App, Event


@dataclass(frozen=True)
class Actor:
    """Who made a change: a user (through a named token, from an address) or xae itself."""

    name: str
    token_name: str | None = None
    source: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.name, principal.token_name, principal.address)


SYSTEM = Actor("system")


def record(
    session: Session,
    actor: Actor | Principal | str,
    action: str,
    target: str,
    *,
    app: str | None = None,
    team_id: int | None = None,
    result: str = "ok",
    details: dict[str, Any] | None = None,
) -> None:
    """Add one event. An event about an app is filed under the app's team (looked up when
    `team_id` is not given), for that team's owners to read."""
    if app is not None and team_id is None:
        team_id = session.scalar(select(App.team_id).where(App.name == app))
    if isinstance(actor, Principal):
        actor = Actor.of(actor)
    elif isinstance(actor, str):
        actor = Actor(actor)
    session.add(
        Event(
            actor=actor.name,
            token_name=actor.token_name,
            source=actor.source,
            action=action,
            target=target,
            app=app,
            team_id=team_id,
            result=result,
            details=details or {},
        )
    )


@dataclass(frozen=True)
class AuditQuery:
    team_ids: set[int] | None
    """The teams whose events the reader may see; None: all (admins)."""
    app: str | None = None
    user: str | None = None
    since: datetime | None = None
    limit: int = 100
    before_id: int | None = None
    """Paging: only events older than this one (the cursor)."""


def events(session: Session, query: AuditQuery) -> list[Event]:
    """The newest events first, filtered to what the reader may see."""
    stmt = select(Event).order_by(Event.id.desc()).limit(query.limit)
    if query.team_ids is not None:
        stmt = stmt.where(Event.team_id.in_(query.team_ids))
    if query.app is not None:
        stmt = stmt.where(Event.app == query.app)
    if query.user is not None:
        stmt = stmt.where(Event.actor == query.user)
    if query.since is not None:
        stmt = stmt.where(Event.at >= query.since)
    if query.before_id is not None:
        stmt = stmt.where(Event.id < query.before_id)
    return list(session.scalars(stmt))

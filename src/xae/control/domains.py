"""Custom domains of apps, and the store's side of every app's route.

A custom domain is claimed by one app across all teams (the store's unique hostname); a name
another app holds is refused, naming that app only to a caller who may read it. Every name
passes `xae.domain.names.validate_domain` first and is stored in its canonical form, so the
router is only ever handed names that gate accepted. Each change is audited, then served:
`RouteTable.refresh(app)` re-reads the app's routing through `routing_lookup`.

`routing_lookup` is what `RouteTable` calls, from reconciler and watch threads: it opens its own
session and never raises for an unknown app (the defaults). It must never hand the router a
name under the platform's base domain (one stored before the operator changed the base domain
would shadow an app's own name): such a name is left out, with a warning in the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xae.auth.policy import Principal, allows_app, app_not_found
from xae.control.audit import record
from xae.control.routes import AppRouting, RoutingLookup
from xae.domain.access import Action
from xae.domain.names import validate_domain
from xae.errors import AlreadyExists, InvalidInput, InvalidName, NotFound
from xae.store.db import Database
from xae.store.models import App, Domain

if TYPE_CHECKING:
    from xae.control.platform import Platform

log = logging.getLogger("xae.control")

MAX_DOMAINS_PER_APP = 100
"""Enough for any real site; bounds what one app adds to the router's tables."""


@dataclass(frozen=True)
class DomainInfo:
    hostname: str
    created_at: datetime
    created_by: str

    @property
    def wildcard(self) -> bool:
        return self.hostname.startswith("*.")


def _info(row: Domain) -> DomainInfo:
    return DomainInfo(row.hostname, row.created_at, row.created_by)


def list_domains(session: Session, app: App) -> list[DomainInfo]:
    rows = session.scalars(select(Domain).where(Domain.app_id == app.id).order_by(Domain.hostname))
    return [_info(row) for row in rows]


def _app(session: Session, name: str, app_id: int | None) -> App:
    """As `xae.control.apps.get_app` (which imports the platform, which imports this)."""
    app = session.scalar(select(App).where(App.name == name))
    if app is None or (app_id is not None and app.id != app_id):
        raise app_not_found(name)
    return app


def _claimed(session: Session, principal: Principal, hostname: str, app: App) -> AlreadyExists:
    holder = session.scalar(
        select(App).join(Domain, Domain.app_id == App.id).where(Domain.hostname == hostname)
    )
    if holder is not None and holder.id == app.id:
        return AlreadyExists(f"{hostname} is already a domain of {app.name}")
    if holder is not None and allows_app(principal, holder, Action.APP_READ):
        return AlreadyExists(
            f"{hostname} is already claimed by app {holder.name}: remove it there first "
            f"(`xae domains:remove {hostname} --app {holder.name}`)"
        )
    return AlreadyExists(
        f"{hostname} is already claimed by another app: a domain belongs to one app; ask the "
        "platform's admins if it is yours"
    )


def add_domain(
    p: Platform, user: Principal, name: str, hostname: str, *, app_id: int | None = None
) -> DomainInfo:
    """Claim `hostname` for app `name` and serve it; refused if any app holds it already."""
    canonical = validate_domain(hostname, p.settings.base_domain)
    with p.change(name):
        try:
            with p.db.session() as session:
                app = _app(session, name, app_id)
                if session.scalar(select(Domain).where(Domain.hostname == canonical)):
                    raise _claimed(session, user, canonical, app)
                count = session.scalar(
                    select(func.count()).select_from(Domain).where(Domain.app_id == app.id)
                )
                if (count or 0) >= MAX_DOMAINS_PER_APP:
                    raise InvalidInput(
                        f"{name} has {count} domains, the most an app may have: remove one "
                        "first, or use a wildcard (*.example.com)"
                    )
                row = Domain(hostname=canonical, app_id=app.id, created_by=user.name)
                session.add(row)
                # Flushed here: a concurrent claim of the same name, which passed the check
                # above too, fails on the unique hostname as a conflict (409), not a crash.
                session.flush()
                record(session, user, "domain.add", canonical, app=name, team_id=app.team_id)
                info = _info(row)
        except IntegrityError as e:
            raise AlreadyExists(f"{canonical} was claimed by another app just now") from e
        p.routes.refresh(name)
    p.on_certificates_changed()  # a certificate may cover the new name
    return info


def remove_domain(
    p: Platform, user: Principal, name: str, hostname: str, *, app_id: int | None = None
) -> None:
    """Stop serving `hostname` for app `name` and free it for any app."""
    try:
        canonical = validate_domain(hostname)
    except InvalidName as e:
        raise NotFound(f"{name} has no domain {ascii(hostname[:80])}: {e.message}") from e
    with p.change(name):
        with p.db.session() as session:
            app = _app(session, name, app_id)
            row = session.scalar(
                select(Domain).where(Domain.hostname == canonical, Domain.app_id == app.id)
            )
            if row is None:
                raise NotFound(
                    f"{name} has no domain {canonical}: `xae domains --app {name}` lists its "
                    "domains"
                )
            session.delete(row)
            record(session, user, "domain.remove", canonical, app=name, team_id=app.team_id)
        p.routes.refresh(name)
    p.on_certificates_changed()


def _under(hostname: str, base: str) -> bool:
    bare = hostname.removeprefix("*.")
    return bare == base or bare.endswith("." + base)


def routing_lookup(db: Database, base_domain: str) -> RoutingLookup:
    """What `RouteTable` asks the store about an app's route (see the module docstring)."""
    base = base_domain.lower().rstrip(".")

    def lookup(app: str) -> AppRouting:
        with db.session() as session:
            row = session.scalar(select(App).where(App.name == app))
            if row is None:
                return AppRouting()
            names = list(
                session.scalars(
                    select(Domain.hostname).where(Domain.app_id == row.id).order_by(Domain.hostname)
                )
            )
            served = [n for n in names if not _under(n, base)]
            if len(served) != len(names):
                log.warning(
                    "%s: not serving %s: under the base domain %s (changed since they were "
                    "added); remove them with `xae domains:remove`",
                    app,
                    ", ".join(n for n in names if _under(n, base)),
                    base,
                )
            return AppRouting(
                domains=served,
                redirect_https=row.redirect_https,
                max_body=row.max_body,
                read_timeout=row.read_timeout,
                wake=row.scale_from_zero,
            )

    return lookup

"""App lifecycle: create, update settings, destroy (with everything it owns)."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xae.auth.policy import Principal, app_not_found
from xae.control.audit import record
from xae.control.localca import single_label
from xae.control.platform import Platform
from xae.control.teams import default_team
from xae.domain.access import Action
from xae.domain.buildfiles import validate_dockerfile_path
from xae.domain.health import validate_health_path, validate_health_timing
from xae.domain.names import validate_app_name, validate_new_app_name
from xae.errors import AlreadyExists, InvalidInput
from xae.store.models import App, Build, Certificate, Domain, Formation, Release, Team


def get_app(session: Session, name: str, app_id: int | None = None) -> App:
    """The app named `name`; with `app_id`, only if it is still the app the caller was
    authorized for (a name destroyed and created again by someone else in between is another
    app, and answers as missing)."""
    app = session.scalar(select(App).where(App.name == name))
    if app is None or (app_id is not None and app.id != app_id):
        raise app_not_found(name)
    return app


def create_app(p: Platform, user: Principal, name: str, team: Team | None = None) -> None:
    """A new app of `team` (the caller was authorized to create apps in it); without one, of
    the caller's only team (`xae.control.teams.default_team`)."""
    validate_new_app_name(name)
    if team is None:
        with p.db.session() as session:
            team = default_team(session, user, Action.TEAM_CREATE_APP)
    add_app(p, user, name, team)


def add_app(p: Platform, user: Principal, name: str, team: Team) -> None:
    """Record the new app `name` (checked by the caller) in `team` and give it its route."""
    validate_app_name(name)
    taken = AlreadyExists(f"an app named {name!r} already exists: pick another name")
    try:
        with p.db.session() as session:
            if session.scalar(select(App).where(App.name == name)) is not None:
                raise taken
            session.add(App(name=name, team_id=team.id))
            # Flushed here so that a concurrent create of the same name, which passed the
            # check above too, fails on the unique name as a conflict (409), not a crash.
            session.flush()
            record(session, user, "app.create", name, app=name, team_id=team.id)
    except IntegrityError as e:
        raise taken from e
    p.routes.set(name, [])
    if single_label(p.settings.base_domain):
        p.on_certificates_changed()  # the local CA issues the new host its own leaf


@dataclass(frozen=True)
class HealthSettings:
    path: str | None = None
    timeout: float | None = None
    attempts: int | None = None
    drain_seconds: float | None = None


MAX_BODY_LIMIT = 1024**3
"""The largest request body an app may ask the router to accept (1 GiB)."""
READ_TIMEOUT_LIMIT = 3600


@dataclass(frozen=True)
class RouteSettings:
    """The app's route settings to change; None leaves one as it is, a name in `reset` puts
    it back to the router's default."""

    redirect_https: bool | None = None
    max_body: int | None = None
    read_timeout: int | None = None
    scale_from_zero: bool | None = None
    reset: frozenset[str] = frozenset()

    def changed(self) -> bool:
        return bool(self.reset) or any(
            value is not None
            for value in (
                self.redirect_https,
                self.max_body,
                self.read_timeout,
                self.scale_from_zero,
            )
        )


def _check_route_settings(changes: RouteSettings) -> None:
    unknown = changes.reset - {"max_body", "read_timeout"}
    if unknown:
        raise InvalidInput(
            f"only max_body and read_timeout have a default to go back to, not "
            f"{', '.join(sorted(unknown))}"
        )
    if changes.max_body is not None and not 1 <= changes.max_body <= MAX_BODY_LIMIT:
        raise InvalidInput(
            f"max body {changes.max_body} is not valid: use between 1 byte and 1G "
            f"({MAX_BODY_LIMIT} bytes)"
        )
    if changes.read_timeout is not None and not 1 <= changes.read_timeout <= READ_TIMEOUT_LIMIT:
        raise InvalidInput(
            f"read timeout {changes.read_timeout} is not valid: use between 1 and "
            f"{READ_TIMEOUT_LIMIT} seconds"
        )


def _apply_route_settings(app: App, changes: RouteSettings) -> dict[str, object]:
    if changes.redirect_https is not None:
        app.redirect_https = changes.redirect_https
    if changes.scale_from_zero is not None:
        app.scale_from_zero = changes.scale_from_zero
    if changes.max_body is not None or "max_body" in changes.reset:
        app.max_body = changes.max_body
    if changes.read_timeout is not None or "read_timeout" in changes.reset:
        app.read_timeout = changes.read_timeout
    details: dict[str, object] = {
        k: v for k, v in vars(changes).items() if v is not None and k != "reset"
    }
    details.update(dict.fromkeys(sorted(changes.reset), "default"))
    return details


def update_app(
    p: Platform,
    user: Principal,
    name: str,
    changes: HealthSettings,
    *,
    app_id: int | None = None,
    routing: RouteSettings = RouteSettings(),
    dockerfile: str | None = None,
) -> None:
    """Change an app's health check, route settings and Dockerfile path (`""`: back to
    detection; used from the next build); route changes are served at once."""
    _check_route_settings(routing)
    if dockerfile:
        dockerfile = validate_dockerfile_path(dockerfile)
    if routing.changed():
        with p.change(name):
            _update_app(p, user, name, changes, app_id, routing, dockerfile)
            p.routes.refresh(name)
    else:
        _update_app(p, user, name, changes, app_id, routing, dockerfile)


def _update_app(
    p: Platform,
    user: Principal,
    name: str,
    changes: HealthSettings,
    app_id: int | None,
    routing: RouteSettings,
    dockerfile: str | None = None,
) -> None:
    if changes.path is not None:
        validate_health_path(changes.path)
    if changes.drain_seconds is not None and not (
        math.isfinite(changes.drain_seconds) and 0 <= changes.drain_seconds <= 3600
    ):
        raise InvalidInput("drain seconds must be between 0 and 3600")
    with p.db.session() as session:
        app = get_app(session, name, app_id)
        if changes.timeout is not None or changes.attempts is not None:
            # The bound is on the check as it will run: the new value with the other one kept.
            validate_health_timing(
                changes.timeout
                if changes.timeout is not None
                else app.health_timeout or p.settings.health_timeout,
                changes.attempts
                if changes.attempts is not None
                else app.health_attempts or p.settings.health_attempts,
            )
        if changes.path is not None:
            app.health_path = changes.path
        if changes.timeout is not None:
            app.health_timeout = changes.timeout
        if changes.attempts is not None:
            app.health_attempts = changes.attempts
        if changes.drain_seconds is not None:
            app.drain_seconds = changes.drain_seconds
        details: dict[str, object] = {k: v for k, v in vars(changes).items() if v is not None}
        details.update(_apply_route_settings(app, routing))
        if dockerfile is not None:
            app.dockerfile = dockerfile or None
            details["dockerfile"] = dockerfile or "default"
        record(session, user, "app.update", name, app=name, details=details)


def transfer_app(
    p: Platform, user: Principal, name: str, team: Team, *, app_id: int | None = None
) -> None:
    """Move an app to another team (the caller may move it, and create apps in `team`).

    On kubernetes the app's objects move to the team's namespace at the next rollout; its
    releases, config and routes are unchanged."""
    with p.change(name):
        with p.db.session() as session:
            app = get_app(session, name, app_id)
            before = app.team
            if before.id == team.id:
                raise InvalidInput(f"app {name!r} is already in team {team.name!r}")
            app.team_id = team.id
            details = {"from_team": before.name, "to_team": team.name}
            for team_id in (before.id, team.id):
                record(
                    session, user, "app.transfer", name, app=name, team_id=team_id, details=details
                )
        p.converge_held(name)


def destroy_app(
    p: Platform, user: Principal, name: str, confirm: str | None, *, app_id: int | None = None
) -> None:
    validate_app_name(name)
    if confirm != name:
        raise InvalidInput(
            f"destroying {name!r} removes its containers, routes, images and data: "
            f"confirm with --confirm {name}"
        )
    with p.strategy.lock(name):
        with p.db.session() as session:
            app = get_app(session, name, app_id)
            app_id, team_id = app.id, app.team_id
        p.strategy.remove_app(name)
        with p.db.session() as session:
            session.execute(
                select(App).where(App.id == app_id)
            ).scalar_one().current_release_id = None
            session.flush()
            session.execute(delete(Formation).where(Formation.app_id == app_id))
            session.execute(delete(Domain).where(Domain.app_id == app_id))
            session.execute(delete(Release).where(Release.app_id == app_id))
            session.execute(delete(Build).where(Build.app_id == app_id))
            had_certificates = session.scalar(
                select(func.count()).select_from(Certificate).where(Certificate.app_id == app_id)
            )
            session.execute(delete(App).where(App.id == app_id))  # certificates cascade
            record(session, user, "app.destroy", name, app=name, team_id=team_id)
        if had_certificates or single_label(p.settings.base_domain):
            p.on_certificates_changed()
    sources = p.settings.builds_dir / name
    if sources.exists():
        shutil.rmtree(sources)
    repository = p.settings.repos_dir / f"{name}.git"
    if repository.exists():
        shutil.rmtree(repository)

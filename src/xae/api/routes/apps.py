"""Apps: list, create (in a team), inspect, update health and route settings, move, destroy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from xae.api.deps import PlatformDep
from xae.api.guards import (
    AppDeploy,
    AppDestroy,
    AppRead,
    AppTransfer,
    NewAppTeam,
    Self,
    TeamCreateApp,
)
from xae.api.pagination import PageDep, page
from xae.api.responses import errors
from xae.api.routes.views import app_public, formation_public, instance_public
from xae.api.schemas import AppCreate, AppInfo, AppPublic, AppUpdate, Health, Routing
from xae.control import apps as service
from xae.control.domains import list_domains
from xae.control.plan import health_for
from xae.control.platform import Platform
from xae.store.models import App, Build

router = APIRouter(prefix="/v1", tags=["apps"])


@router.get("/apps")
def list_apps(
    p: PlatformDep, principal: Self, pages: PageDep, request: Request, response: Response
) -> list[AppPublic]:
    """The apps of the caller's teams (all apps, for admins), by name."""
    query = (
        select(App)
        .options(selectinload(App.team), selectinload(App.current_release))
        .order_by(App.name)
        .limit(pages.limit + 1)
    )
    teams = principal.visible_team_ids()
    if teams is not None:
        query = query.where(App.team_id.in_(teams))
    if principal.app_id is not None:
        query = query.where(App.id == principal.app_id)
    if pages.after is not None:
        query = query.where(App.name > pages.after)
    with p.db.session() as session:
        rows = list(session.scalars(query))
    return [app_public(p, a) for a in page(rows, pages, lambda a: a.name, request, response)]


@router.post("/apps", status_code=status.HTTP_201_CREATED, responses=errors(409))
def create_app(body: AppCreate, team: NewAppTeam, p: PlatformDep, principal: Self) -> AppPublic:
    """A new app in team `?team=` (by default: your only team where you may create apps)."""
    service.create_app(p, principal, body.name, team)
    with p.db.session() as session:
        return app_public(p, _loaded(session, body.name))


@router.get("/apps/{name}")
def app_info(app: AppRead, p: PlatformDep) -> AppInfo:
    with p.db.session() as session:
        return _info(p, session, app)


def _loaded(session: Session, name: str) -> App:
    app = service.get_app(session, name)
    _ = app.team, app.current_release
    return app


def _info(p: Platform, session: Session, app: App) -> AppInfo:
    name = app.name
    release = app.current_release
    build = session.get(Build, release.build_id) if release and release.build_id else None
    check = health_for(app, p.settings, build)
    drain = app.drain_seconds if app.drain_seconds is not None else p.settings.drain_seconds
    return AppInfo(
        **app_public(p, app).model_dump(),
        formation=formation_public(p, session, app),
        instances=[instance_public(p, i) for i in p.backend.list_instances(name)],
        health=Health(
            path=check.path, timeout=check.timeout, attempts=check.attempts, drain_seconds=drain
        ),
        domains=[d.hostname for d in list_domains(session, app)],
        routing=Routing(
            redirect_https=app.redirect_https,
            max_body=app.max_body,
            read_timeout=app.read_timeout,
            scale_from_zero=app.scale_from_zero,
        ),
        dockerfile=app.dockerfile,
    )


@router.patch("/apps/{name}")
def update_app(app: AppDeploy, body: AppUpdate, p: PlatformDep, principal: Self) -> AppInfo:
    service.update_app(
        p,
        principal,
        app.name,
        service.HealthSettings(
            path=body.health_path,
            timeout=body.health_timeout,
            attempts=body.health_attempts,
            drain_seconds=body.drain_seconds,
        ),
        app_id=app.id,
        routing=service.RouteSettings(
            redirect_https=body.redirect_https,
            max_body=body.max_body,
            read_timeout=body.read_timeout,
            scale_from_zero=body.scale_from_zero,
            # An explicit null puts a limit back to the router's default.
            reset=frozenset(
                key
                for key in ("max_body", "read_timeout")
                if key in body.model_fields_set and getattr(body, key) is None
            ),
        ),
        dockerfile=body.dockerfile,
    )
    with p.db.session() as session:
        # The app as the change left it (authorized above, at the start of this request).
        return _info(p, session, _loaded(session, app.name))


@router.post("/apps/{name}/transfer", responses=errors(403))
def transfer_app(
    app: AppTransfer, team: TeamCreateApp, p: PlatformDep, principal: Self
) -> AppPublic:
    """Move the app to the team `?team=` (owner of its team, and may create apps in that one)."""
    service.transfer_app(p, principal, app.name, team, app_id=app.id)
    with p.db.session() as session:
        return app_public(p, _loaded(session, app.name))


@router.delete("/apps/{name}", status_code=status.HTTP_204_NO_CONTENT)
def destroy_app(
    app: AppDestroy,
    p: PlatformDep,
    principal: Self,
    confirm: Annotated[
        str | None, Query(max_length=64, description="the app's name again, to confirm")
    ] = None,
) -> Response:
    service.destroy_app(p, principal, app.name, confirm, app_id=app.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

"""Apps: list, create, inspect, update health settings, destroy."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy import select

from xae.api.deps import PlatformDep, SessionDep, UserDep
from xae.api.responses import errors
from xae.api.routes.views import (
    app_public,
    formation_public,
    instance_public,
    load_app,
)
from xae.api.schemas import AppCreate, AppInfo, AppPublic, AppUpdate, Health
from xae.control import apps as service
from xae.control.plan import health_for
from xae.store.models import App

router = APIRouter(prefix="/v1/apps", tags=["apps"])


@router.get("")
def list_apps(p: PlatformDep, session: SessionDep, user: UserDep) -> list[AppPublic]:
    query = select(App).order_by(App.name)
    if not user.is_admin:
        query = query.where(App.owner_id == user.id)
    return [app_public(p, app) for app in session.scalars(query)]


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(409))
def create_app(body: AppCreate, p: PlatformDep, user: UserDep) -> AppPublic:
    service.create_app(p, user, body.name)
    with p.db.session() as session:
        return app_public(p, service.get_app(session, body.name))


@router.get("/{name}")
def app_info(name: str, p: PlatformDep, session: SessionDep, user: UserDep) -> AppInfo:
    app = load_app(session, user, name)
    check = health_for(app, p.settings)
    drain = app.drain_seconds if app.drain_seconds is not None else p.settings.drain_seconds
    return AppInfo(
        **app_public(p, app).model_dump(),
        formation=formation_public(p, session, app),
        instances=[instance_public(p, i) for i in p.backend.list_instances(name)],
        health=Health(
            path=check.path, timeout=check.timeout, attempts=check.attempts, drain_seconds=drain
        ),
    )


@router.patch("/{name}")
def update_app(name: str, body: AppUpdate, p: PlatformDep, user: UserDep) -> AppInfo:
    with p.db.session() as session:
        load_app(session, user, name)
    service.update_app(
        p,
        user,
        name,
        service.HealthSettings(
            path=body.health_path,
            timeout=body.health_timeout,
            attempts=body.health_attempts,
            drain_seconds=body.drain_seconds,
        ),
    )
    with p.db.session() as session:
        return app_info(name, p, session, user)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def destroy_app(name: str, p: PlatformDep, user: UserDep, confirm: str | None = None) -> Response:
    with p.db.session() as session:
        load_app(session, user, name)
    service.destroy_app(p, user, name, confirm)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

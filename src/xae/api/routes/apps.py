"""Apps: list, create, inspect, update health settings, destroy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from xae.api.deps import AppDep, PlatformDep, SessionDep, UserDep
from xae.api.responses import errors
from xae.api.routes.views import app_public, formation_public, instance_public
from xae.api.schemas import AppCreate, AppInfo, AppPublic, AppUpdate, Health
from xae.control import apps as service
from xae.control.plan import health_for
from xae.control.platform import Platform
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
def app_info(app: AppDep, p: PlatformDep, session: SessionDep) -> AppInfo:
    return _info(p, session, app)


def _info(p: Platform, session: Session, app: App) -> AppInfo:
    name = app.name
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
def update_app(app: AppDep, body: AppUpdate, p: PlatformDep, user: UserDep) -> AppInfo:
    service.update_app(
        p,
        user,
        app.name,
        service.HealthSettings(
            path=body.health_path,
            timeout=body.health_timeout,
            attempts=body.health_attempts,
            drain_seconds=body.drain_seconds,
        ),
    )
    with p.db.session() as session:
        # The app as the change left it (authorized above, at the start of this request).
        return _info(p, session, service.get_app(session, app.name))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def destroy_app(
    app: AppDep,
    p: PlatformDep,
    user: UserDep,
    confirm: Annotated[
        str | None, Query(max_length=64, description="the app's name again, to confirm")
    ] = None,
) -> Response:
    service.destroy_app(p, user, app.name, confirm)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

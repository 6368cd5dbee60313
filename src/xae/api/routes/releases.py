"""Releases and config: each change makes a new release, returned once it serves."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import select

from xae.api.deps import PlatformDep, SessionDep
from xae.api.guards import AppDeploy, AppRead, Self
from xae.api.pagination import PageDep, page
from xae.api.routes.views import release_public
from xae.api.schemas import ReleasePublic, RollbackRequest
from xae.auth.policy import allows_app
from xae.control import releases as service
from xae.control.apps import get_app
from xae.control.configvars import config_names, open_config
from xae.domain.access import Action
from xae.errors import InvalidInput
from xae.store.models import Release

router = APIRouter(prefix="/v1/apps", tags=["releases"])


def _release(p: PlatformDep, name: str, version: int) -> ReleasePublic:
    """Release `version` as the change that made it left it (the app was authorized already)."""
    with p.db.session() as session:
        app = get_app(session, name)
        return release_public(session, service.get_release(session, app, version))


@router.get("/{name}/releases")
def list_releases(
    app: AppRead, session: SessionDep, pages: PageDep, request: Request, response: Response
) -> list[ReleasePublic]:
    """Newest first."""
    query = (
        select(Release)
        .where(Release.app_id == app.id)
        .order_by(Release.version.desc())
        .limit(pages.limit + 1)
    )
    after = pages.after_number()
    if after is not None:
        query = query.where(Release.version < after)
    rows = list(session.scalars(query))
    shown = page(rows, pages, lambda r: str(r.version), request, response)
    return [release_public(session, r) for r in shown]


_VERSION = r"^v?([0-9]{1,9})$"


@router.get("/{name}/releases/{version}")
def release_info(
    app: AppRead,
    version: Annotated[str, Path(description="the release: v3 or 3", max_length=20)],
    session: SessionDep,
) -> ReleasePublic:
    match = re.fullmatch(_VERSION, version)
    if match is None:
        raise InvalidInput(f"{ascii(version[:20])} is not a release: write it like v3")
    return release_public(session, service.get_release(session, app, int(match.group(1))))


@router.post("/{name}/rollback")
def rollback(app: AppDeploy, body: RollbackRequest, p: PlatformDep, user: Self) -> ReleasePublic:
    _, version = service.rollback(p, user, app.name, body.version, app_id=app.id)
    return _release(p, app.name, version)


@router.get("/{name}/config")
def get_config(app: AppRead, p: PlatformDep, principal: Self) -> dict[str, str | None]:
    """Every key with its value; a viewer sees the keys only (values are null, and are not
    even unsealed)."""
    if allows_app(principal, app, Action.APP_CONFIG_READ):
        return dict(open_config(p.vault, app))
    return dict.fromkeys(config_names(app))


@router.patch("/{name}/config")
def change_config(
    app: AppDeploy, body: dict[str, str | None], p: PlatformDep, user: Self
) -> ReleasePublic:
    version = service.set_config(p, user, app.name, body, app_id=app.id)
    return _release(p, app.name, version)

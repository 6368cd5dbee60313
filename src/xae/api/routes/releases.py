"""Releases and config: each change makes a new release, returned once it serves."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import select

from xae.api.deps import AppDep, PlatformDep, SessionDep, UserDep
from xae.api.routes.views import release_public
from xae.api.schemas import ReleasePublic, RollbackRequest
from xae.control import releases as service
from xae.control.apps import get_app
from xae.control.configvars import open_config
from xae.errors import InvalidInput
from xae.store.models import Release

router = APIRouter(prefix="/v1/apps", tags=["releases"])


def _release(p: PlatformDep, name: str, version: int) -> ReleasePublic:
    """Release `version` as the change that made it left it (the app was authorized already)."""
    with p.db.session() as session:
        app = get_app(session, name)
        return release_public(session, service.get_release(session, app, version))


@router.get("/{name}/releases")
def list_releases(app: AppDep, session: SessionDep) -> list[ReleasePublic]:
    rows = session.scalars(
        select(Release).where(Release.app_id == app.id).order_by(Release.version.desc())
    )
    return [release_public(session, r) for r in rows]


_VERSION = r"^v?([0-9]{1,9})$"


@router.get("/{name}/releases/{version}")
def release_info(
    app: AppDep,
    version: Annotated[str, Path(description="the release: v3 or 3", max_length=20)],
    session: SessionDep,
) -> ReleasePublic:
    match = re.fullmatch(_VERSION, version)
    if match is None:
        raise InvalidInput(f"{version[:20]!r} is not a release: write it like v3")
    return release_public(session, service.get_release(session, app, int(match.group(1))))


@router.post("/{name}/rollback")
def rollback(app: AppDep, body: RollbackRequest, p: PlatformDep, user: UserDep) -> ReleasePublic:
    _, version = service.rollback(p, user, app.name, body.version)
    return _release(p, app.name, version)


@router.get("/{name}/config")
def get_config(app: AppDep, p: PlatformDep) -> dict[str, str]:
    return open_config(p.vault, app)


@router.patch("/{name}/config")
def change_config(
    app: AppDep, body: dict[str, str | None], p: PlatformDep, user: UserDep
) -> ReleasePublic:
    version = service.set_config(p, user, app.name, body)
    return _release(p, app.name, version)

"""Releases and config: each change makes a new release, returned once it serves."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import select

from xae.api.deps import PlatformDep, SessionDep, UserDep
from xae.api.routes.views import load_app, release_public
from xae.api.schemas import ReleasePublic, RollbackRequest
from xae.control import releases as service
from xae.control.apps import get_app
from xae.errors import InvalidInput
from xae.store.models import Release

router = APIRouter(prefix="/v1/apps", tags=["releases"])


def _release(p: PlatformDep, name: str, version: int) -> ReleasePublic:
    with p.db.session() as session:
        app = get_app(session, name)
        return release_public(session, service.get_release(session, app, version))


@router.get("/{name}/releases")
def list_releases(name: str, session: SessionDep, user: UserDep) -> list[ReleasePublic]:
    app = load_app(session, user, name)
    rows = session.scalars(
        select(Release).where(Release.app_id == app.id).order_by(Release.version.desc())
    )
    return [release_public(session, r) for r in rows]


_VERSION = r"^v?([0-9]{1,9})$"


@router.get("/{name}/releases/{version}")
def release_info(
    name: str,
    version: Annotated[str, Path(description="the release: v3 or 3", max_length=20)],
    session: SessionDep,
    user: UserDep,
) -> ReleasePublic:
    app = load_app(session, user, name)
    match = re.fullmatch(_VERSION, version)
    if match is None:
        raise InvalidInput(f"{version[:20]!r} is not a release: write it like v3")
    return release_public(session, service.get_release(session, app, int(match.group(1))))


@router.post("/{name}/rollback")
def rollback(name: str, body: RollbackRequest, p: PlatformDep, user: UserDep) -> ReleasePublic:
    with p.db.session() as session:
        load_app(session, user, name)
    _, version = service.rollback(p, user, name, body.version)
    return _release(p, name, version)


@router.get("/{name}/config")
def get_config(name: str, session: SessionDep, user: UserDep) -> dict[str, str]:
    return dict(load_app(session, user, name).config)


@router.patch("/{name}/config")
def change_config(
    name: str, body: dict[str, str | None], p: PlatformDep, user: UserDep
) -> ReleasePublic:
    with p.db.session() as session:
        load_app(session, user, name)
    version = service.set_config(p, user, name, body)
    return _release(p, name, version)

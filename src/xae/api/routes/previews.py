"""Preview apps of an app: on/off and the idle time, the list, and per branch create or remove.

Creating (`POST`) is what a push of a non-deploy branch does (`xae.control.previews`); it needs
the deploy level on the parent app, as the push does, and makes the preview in the parent's
team. Removing (`DELETE ?branch=`) is what deleting the branch does; removing a branch that has
no preview answers `removed: null`, so a caller may call it for every deleted branch.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from xae.api.deps import PlatformDep
from xae.api.guards import AppDeploy, AppRead, Self
from xae.api.responses import errors
from xae.api.schemas import (
    PreviewCreate,
    PreviewPublic,
    PreviewRemoved,
    PreviewsPublic,
    PreviewsSet,
)
from xae.control import previews as service

router = APIRouter(prefix="/v1/apps", tags=["previews"])


@router.get("/{name}/previews")
def list_previews(app: AppRead, p: PlatformDep) -> PreviewsPublic:
    """Whether previews are on, their idle time, and the app's preview apps."""
    info = service.list_previews(p, app.name)
    return PreviewsPublic(
        enabled=info.enabled,
        idle_seconds=info.idle_seconds,
        previews=[PreviewPublic(**vars(preview)) for preview in info.previews],
    )


@router.patch("/{name}/previews")
def set_previews(
    app: AppDeploy, body: PreviewsSet, p: PlatformDep, principal: Self
) -> PreviewsPublic:
    """Turn previews on (with an idle time) or off."""
    service.set_previews(
        p, principal, app.name, enabled=body.enabled, idle_seconds=body.idle_seconds, app_id=app.id
    )
    return list_previews(app, p)


@router.post("/{name}/previews", status_code=status.HTTP_201_CREATED, responses=errors(409))
def create_preview(
    app: AppDeploy, body: PreviewCreate, p: PlatformDep, principal: Self
) -> PreviewPublic:
    """The preview app of a branch: created, or found (the push is recorded either way)."""
    name = service.preview_for_branch(p, principal, app.name, body.branch)
    for preview in service.list_previews(p, app.name).previews:
        if preview.app == name:
            return PreviewPublic(**vars(preview))
    raise AssertionError("a preview just made is listed")  # pragma: no cover


@router.delete("/{name}/previews")
def remove_preview(app: AppDeploy, branch: str, p: PlatformDep, principal: Self) -> PreviewRemoved:
    """Destroy the preview app of `branch` (the branch was deleted)."""
    return PreviewRemoved(removed=service.remove_preview(p, principal, app.name, branch))

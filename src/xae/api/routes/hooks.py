"""Deploy notification hooks: add (the secret is in this answer only), list, remove, and the
delivery log. Managing hooks needs the app's deploy action (a hook learns of every deploy);
listing them and their deliveries the read action."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from xae.api.deps import PlatformDep, SessionDep
from xae.api.guards import AppDeploy, AppRead, Self
from xae.api.schemas import MAX_INT, HookCreate, HookCreated, HookDeliveryPublic, HookPublic
from xae.codecenter import hooks as service
from xae.store.models import Hook

router = APIRouter(prefix="/v1/apps", tags=["hooks"])


def _public(hook: Hook) -> HookPublic:
    return HookPublic(
        id=hook.id,
        url=hook.url,
        events=list(hook.events),
        created_at=hook.created_at,
        created_by=hook.created_by,
    )


@router.get("/{name}/hooks")
def list_hooks(app: AppRead, session: SessionDep) -> list[HookPublic]:
    return [_public(h) for h in service.list_hooks(session, app)]


@router.post("/{name}/hooks", status_code=status.HTTP_201_CREATED)
def add_hook(app: AppDeploy, body: HookCreate, p: PlatformDep, user: Self) -> HookCreated:
    """Add a hook: build and deploy events are POSTed to `url` as signed JSON."""
    hook, secret = service.add_hook(p, user, app, body.url, body.events)
    return HookCreated(hook=_public(hook), secret=secret)


@router.delete("/{name}/hooks/{hook_id:int}", status_code=status.HTTP_204_NO_CONTENT)
def remove_hook(
    app: AppDeploy,
    hook_id: Annotated[int, Path(ge=1, le=MAX_INT, description="the id `xae hooks` shows")],
    p: PlatformDep,
    user: Self,
) -> None:
    service.remove_hook(p, user, app, hook_id)


@router.get("/{name}/hooks/deliveries")
def list_deliveries(
    app: AppRead,
    session: SessionDep,
    hook: Annotated[int | None, Query(ge=1, le=MAX_INT, description="one hook's only")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[HookDeliveryPublic]:
    """The newest delivery attempts first: status code, attempt, time, error."""
    return [
        HookDeliveryPublic(
            id=d.id,
            hook=d.hook_id,
            delivery=d.delivery,
            event=d.event,
            attempt=d.attempt,
            status_code=d.status_code,
            ok=d.ok,
            error=d.error,
            at=d.at,
        )
        for d in service.deliveries(session, app, hook, limit)
    ]

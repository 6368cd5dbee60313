"""Formation and instances: scale, resize, restart, and what runs right now."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from xae.api.deps import AppDep, PlatformDep, SessionDep, UserDep
from xae.api.routes.views import formation_public, instance_public
from xae.api.schemas import FormationPatch, FormationPublic, InstancePublic, RestartRequest
from xae.control import formation as service
from xae.control.apps import get_app

router = APIRouter(prefix="/v1/apps", tags=["formation"])


@router.get("/{name}/formation")
def get_formation(app: AppDep, p: PlatformDep, session: SessionDep) -> list[FormationPublic]:
    return formation_public(p, session, app)


@router.patch("/{name}/formation")
def change_formation(
    app: AppDep, body: FormationPatch, p: PlatformDep, user: UserDep
) -> list[FormationPublic]:
    service.change(
        p,
        user,
        app.name,
        [
            service.FormationChange(
                process_type=u.type,
                quantity=u.quantity,
                memory=u.memory,
                cpus=u.cpus,
                read_only=u.read_only,
            )
            for u in body.updates
        ],
    )
    with p.db.session() as session:
        # The formation as the change left it (the app was authorized at the request's start).
        return formation_public(p, session, get_app(session, app.name))


@router.post("/{name}/restart", status_code=status.HTTP_204_NO_CONTENT)
def restart(app: AppDep, body: RestartRequest, p: PlatformDep, user: UserDep) -> Response:
    service.restart(p, user, app.name, body.type)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{name}/instances")
def list_instances(app: AppDep, p: PlatformDep) -> list[InstancePublic]:
    instances = sorted(p.backend.list_instances(app.name), key=lambda i: (i.process, i.name))
    return [instance_public(p, i) for i in instances]

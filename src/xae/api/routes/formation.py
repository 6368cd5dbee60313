"""Formation and instances: scale, resize, restart, and what runs right now."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from xae.api.deps import PlatformDep, SessionDep
from xae.api.guards import AppDeploy, AppRead, Self
from xae.api.routes.views import formation_public, instance_public
from xae.api.schemas import FormationPatch, FormationPublic, InstancePublic, RestartRequest
from xae.control import formation as service
from xae.control.apps import get_app
from xae.domain.names import validate_process_type

router = APIRouter(prefix="/v1/apps", tags=["formation"])


@router.get("/{name}/formation")
def get_formation(app: AppRead, p: PlatformDep, session: SessionDep) -> list[FormationPublic]:
    return formation_public(p, session, app)


@router.patch("/{name}/formation")
def change_formation(
    app: AppDeploy, body: FormationPatch, p: PlatformDep, user: Self
) -> list[FormationPublic]:
    for update in body.updates:
        validate_process_type(update.type)
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
        app_id=app.id,
    )
    with p.db.session() as session:
        # The formation as the change left it (the app was authorized at the request's start).
        return formation_public(p, session, get_app(session, app.name))


@router.post("/{name}/restart", status_code=status.HTTP_204_NO_CONTENT)
def restart(app: AppDeploy, body: RestartRequest, p: PlatformDep, user: Self) -> Response:
    if body.type is not None:
        validate_process_type(body.type)
    service.restart(p, user, app.name, body.type, app_id=app.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{name}/instances")
def list_instances(app: AppRead, p: PlatformDep) -> list[InstancePublic]:
    instances = sorted(p.backend.list_instances(app.name), key=lambda i: (i.process, i.name))
    return [instance_public(p, i) for i in instances]

"""Formation and instances: scale, resize, restart, and what runs right now."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from xae.api.deps import PlatformDep, SessionDep, UserDep
from xae.api.routes.views import formation_public, instance_public, load_app
from xae.api.schemas import FormationPatch, FormationPublic, InstancePublic, RestartRequest
from xae.control import formation as service

router = APIRouter(prefix="/v1/apps", tags=["formation"])


@router.get("/{name}/formation")
def get_formation(
    name: str, p: PlatformDep, session: SessionDep, user: UserDep
) -> list[FormationPublic]:
    return formation_public(p, session, load_app(session, user, name))


@router.patch("/{name}/formation")
def change_formation(
    name: str, body: FormationPatch, p: PlatformDep, user: UserDep
) -> list[FormationPublic]:
    with p.db.session() as session:
        load_app(session, user, name)
    service.change(
        p,
        user,
        name,
        [
            service.FormationChange(
                process_type=u.type, quantity=u.quantity, memory=u.memory, cpus=u.cpus
            )
            for u in body.updates
        ],
    )
    with p.db.session() as session:
        return formation_public(p, session, load_app(session, user, name))


@router.post("/{name}/restart", status_code=status.HTTP_204_NO_CONTENT)
def restart(name: str, body: RestartRequest, p: PlatformDep, user: UserDep) -> Response:
    with p.db.session() as session:
        load_app(session, user, name)
    service.restart(p, user, name, body.type)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{name}/instances")
def list_instances(
    name: str, p: PlatformDep, session: SessionDep, user: UserDep
) -> list[InstancePublic]:
    load_app(session, user, name)
    instances = sorted(p.backend.list_instances(name), key=lambda i: (i.process, i.name))
    return [instance_public(p, i) for i in instances]

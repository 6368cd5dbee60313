"""Custom domains of an app: list (app read), add and remove (the deploy level).

A name is validated and made canonical by `xae.control.domains` before anything is stored; the
path's `{domain}` of a removal goes through the same gate, so `WWW.Example.com` removes
`www.example.com`.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from xae.api.deps import PlatformDep
from xae.api.guards import AppDeploy, AppRead, Self
from xae.api.responses import errors
from xae.api.schemas import DomainCreate, DomainPublic
from xae.control import domains as service

router = APIRouter(prefix="/v1/apps", tags=["domains"])


def _public(info: service.DomainInfo) -> DomainPublic:
    return DomainPublic(
        hostname=info.hostname,
        wildcard=info.wildcard,
        created_at=info.created_at,
        created_by=info.created_by,
    )


@router.get("/{name}/domains")
def list_domains(app: AppRead, p: PlatformDep) -> list[DomainPublic]:
    """The app's custom domains, by name (its own `<app>.<base domain>` is not listed)."""
    with p.db.session() as session:
        return [_public(d) for d in service.list_domains(session, app)]


@router.post("/{name}/domains", status_code=status.HTTP_201_CREATED, responses=errors(409))
def add_domain(app: AppDeploy, body: DomainCreate, p: PlatformDep, principal: Self) -> DomainPublic:
    """Serve the app at `hostname` too; a name another app holds (of any team) is refused."""
    info = service.add_domain(p, principal, app.name, body.hostname, app_id=app.id)
    return _public(info)


@router.delete("/{name}/domains/{domain}", status_code=status.HTTP_204_NO_CONTENT)
def remove_domain(app: AppDeploy, domain: str, p: PlatformDep, principal: Self) -> Response:
    service.remove_domain(p, principal, app.name, domain, app_id=app.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

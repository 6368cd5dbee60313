"""An app's route and its weighted traffic split: show (app read), set and end (the deploy
level, as a deploy: a split decides which releases users get).

Setting a split starts and health-checks the releases' web instances before it answers, so a
201/200 means the router serves the split; a release that cannot serve is refused with the
reason and nothing changes (`xae.control.splits`).
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from xae.api.deps import PlatformDep
from xae.api.guards import AppDeploy, AppRead, Self
from xae.api.responses import errors
from xae.api.schemas import RouteRelease, RoutesPublic, SplitSet
from xae.control import splits as service
from xae.domain.splits import Share

router = APIRouter(prefix="/v1/apps", tags=["routes"])


def _public(info: service.RoutesInfo) -> RoutesPublic:
    return RoutesPublic(
        hosts=info.hosts,
        current_release=info.current,
        split=info.split,
        sticky=info.sticky,
        releases=[
            RouteRelease(version=r.version, weight=r.weight, instances=r.instances)
            for r in info.releases
        ],
        redirect_https=info.redirect_https,
        max_body=info.max_body,
        read_timeout=info.read_timeout,
        scale_from_zero=info.scale_from_zero,
    )


@router.get("/{name}/routes")
def get_routes(app: AppRead, p: PlatformDep) -> RoutesPublic:
    """The app's host names, how its traffic is split between releases, its route settings."""
    with p.db.session() as session:
        row = service.get_app(session, app.name, app.id)
        return _public(service.routes_of(p, session, row))


@router.put("/{name}/split", responses=errors(409, 502))
def set_split(app: AppDeploy, body: SplitSet, p: PlatformDep, principal: Self) -> RoutesPublic:
    """Split the app's traffic between releases by weight; returns once the router serves it."""
    shares = [Share(r.version, r.weight) for r in body.releases]
    service.set_split(p, principal, app.name, shares, sticky=body.sticky, app_id=app.id)
    return get_routes(app, p)


@router.delete("/{name}/split", status_code=status.HTTP_204_NO_CONTENT)
def clear_split(app: AppDeploy, p: PlatformDep, principal: Self) -> Response:
    """End the split: every request to the current release, the other releases drained."""
    service.clear_split(p, principal, app.name, app_id=app.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

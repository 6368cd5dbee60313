"""Status: is each part of xae healthy, and if not, what to do about it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from xae.api.deps import PlatformDep, UserDep
from xae.api.schemas import Component, RouterInfo, Status
from xae.errors import XaeError

router = APIRouter(prefix="/v1", tags=["status"])


@router.get("/status")
def get_status(request: Request, p: PlatformDep, _: UserDep) -> Status:
    components = [Component(name="api", healthy=True, detail=f"serving at {p.settings.api_url}")]
    backend = p.runtime.name
    try:
        p.runtime.ping()
        components.append(Component(name=backend, healthy=True, detail="the backend answers"))
    except XaeError as e:
        hint = "start the cluster: `make k8s-up`" if backend == "kubernetes" else "`make up`"
        components.append(Component(name=backend, healthy=False, detail=e.message, hint=hint))
    try:
        with p.db.session() as session:
            session.execute(text("SELECT 1"))
        components.append(Component(name="store", healthy=True, detail=p.settings.db_url))
    except Exception as e:
        components.append(
            Component(
                name="store",
                healthy=False,
                detail=str(e)[:200],
                hint=f"check {p.settings.state_dir} is writable",
            )
        )
    router_status = p.router.status()
    components.append(
        Component(
            name="router",
            healthy=router_status.running,
            detail=router_status.detail,
            hint="" if router_status.running else "restart xae: `make down && make up`",
        )
    )
    reconciler = request.app.state.reconciler
    if reconciler is None:
        components.append(
            Component(
                name="reconciler",
                healthy=False,
                detail="not started",
                hint="restart xae: `make down && make up`",
            )
        )
    else:
        healthy = reconciler.alive
        detail = f"{reconciler.passes} passes"
        if reconciler.last_error:
            detail += f"; last problem: {reconciler.last_error}"
        components.append(
            Component(
                name="reconciler",
                healthy=healthy,
                detail=detail,
                hint="" if healthy else "restart xae: `make down && make up`",
            )
        )
    return Status(
        api_url=p.settings.api_url,
        backend=p.runtime.name,
        router=RouterInfo(address=router_status.address, base_domain=p.settings.base_domain),
        components=components,
    )

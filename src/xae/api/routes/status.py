"""Status: is each part of xae healthy, and if not, what to do about it."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from sqlalchemy import select, text

from xae.api.deps import PlatformDep
from xae.api.guards import Self
from xae.api.schemas import Component, DiskUsagePublic, LocalCAInfo, RouterInfo, Status
from xae.auth.policy import Principal
from xae.control.certificates import local_ca_info
from xae.control.gc import disk_usage
from xae.control.platform import Platform
from xae.control.reconciler import AppFailure, Reconciler
from xae.errors import XaeError
from xae.store.models import App

router = APIRouter(prefix="/v1", tags=["status"])
log = logging.getLogger("xae.api")


@router.get("/status")
def get_status(request: Request, p: PlatformDep, user: Self) -> Status:
    components = [Component(name="api", healthy=True, detail=f"serving at {p.settings.api_url}")]
    backend = p.backend.name
    try:
        p.backend.ping()
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
    components.append(_reconciler(request.app.state.reconciler, p, user))
    return Status(
        api_url=p.settings.api_url,
        backend=p.backend.name,
        router=RouterInfo(address=router_status.address, base_domain=p.settings.base_domain),
        components=components,
        local_ca=_local_ca(p),
        disk=_disk(p, user),
    )


def _disk(p: Platform, user: Principal) -> DiskUsagePublic | None:
    """The platform's disk usage, for its admins (other tenants' volume is theirs to know)."""
    if not user.is_admin:
        return None
    try:
        return DiskUsagePublic(**vars(disk_usage(p)))
    except XaeError as e:
        log.warning("the disk usage could not be read: %s", e.message)
        return None


def _local_ca(p: Platform) -> LocalCAInfo | None:
    """The local CA, when this process can read it (it is made at start-up)."""
    try:
        return LocalCAInfo(**vars(local_ca_info(p)))
    except OSError as e:
        log.warning("the local CA cannot be read: %s", e)
        return None


def _reconciler(reconciler: Reconciler | None, p: Platform, user: Principal) -> Component:
    """Whether self-healing works for the user's apps: unhealthy while any of them fails.

    A user sees the names and errors of their teams' failing apps (an admin: of all apps) and
    only how many other apps fail, never their names or errors."""
    restart = "restart xae: `make down && make up`"
    if reconciler is None:
        return Component(name="reconciler", healthy=False, detail="not started", hint=restart)
    if not reconciler.alive:
        return Component(name="reconciler", healthy=False, detail="stopped", hint=restart)
    failures = reconciler.failures()
    overdue = reconciler.scheduler.overdue()
    teams = user.visible_team_ids()
    if teams is None:
        mine = set(failures) | set(overdue)
    else:
        query = select(App.name).where(App.team_id.in_(teams))
        if user.app_id is not None:
            query = query.where(App.id == user.app_id)
        with p.db.session() as session:
            mine = set(session.scalars(query))
    problems = [
        f"{name} fails since {f.since:%Y-%m-%d %H:%M:%S} UTC ({f.passes} passes): {f.error}"
        f" ({_next_pass(f)})"
        for name, f in sorted(failures.items())
        if name in mine
    ]
    others = len(set(failures) - mine)
    if others:
        problems.append(f"{others} app(s) of other teams fail")
    slow = [f"{name} ({secs:.0f} s)" for name, secs in sorted(overdue.items()) if name in mine]
    detail = f"{reconciler.passes} passes"
    if reconciler.loop_error:
        detail += f"; {reconciler.loop_error}"
    if problems:
        detail += "; not healing: " + "; ".join(problems)
    if slow:
        detail += "; slow passes still running: " + ", ".join(slow)
    failing = set(failures) & mine
    healthy = not failing and not reconciler.loop_error
    hint = ""
    if failing:
        hint = (
            "these apps are not healed until their pass succeeds: fix what the error says "
            "(`xae apps:info APP`, `xae logs --app APP`); other apps keep healing. A failing "
            "app is retried less and less often, and at once when it changes (a deploy, "
            "config, scale or `apps:update`)"
        )
    elif reconciler.loop_error:
        hint = "check the store and the control plane's log"
    return Component(name="reconciler", healthy=healthy, detail=detail, hint=hint)


def _next_pass(failure: AppFailure) -> str:
    """When the backed-off app is tried again, and why not sooner."""
    kind = "temporary" if failure.temporary else "permanent"
    if failure.retry_at is None:
        return f"{kind} error; the app changed: next pass now"
    return (
        f"{kind} error; next pass at {failure.retry_at:%H:%M:%S} UTC, "
        "or at once when the app changes"
    )

"""Garbage collection on demand: the platform's (admins) and one app's (its team's deployers).

`POST /v1/gc` collects every app's old images and the plane's leftovers and reaps idle previews;
`POST /v1/apps/{name}/gc` only that app's old images, which is what a team may decide about.
`?dry_run=true` answers the same list and removes nothing (`xae.control.gc`).
"""

from __future__ import annotations

from fastapi import APIRouter

from xae.api.deps import PlatformDep
from xae.api.guards import AppDeploy, ManagesPlatform, Self
from xae.api.schemas import GcReport
from xae.control import gc as service
from xae.control.previews import reap_idle
from xae.domain.gc import Collected

router = APIRouter(prefix="/v1", tags=["gc"])


def _report(collected: Collected, dry_run: bool) -> GcReport:
    return GcReport(
        dry_run=dry_run,
        images=collected.images,
        registry_tags=collected.registry_tags,
        dangling_images=collected.dangling,
        containers=collected.containers,
        build_dirs=collected.build_dirs,
        build_cache_entries=collected.build_cache,
        previews=collected.previews,
        reclaimed_bytes=collected.reclaimed_bytes,
        estimated_bytes=collected.estimated_bytes,
        errors=collected.errors,
    )


@router.post("/gc")
def collect_platform(p: PlatformDep, principal: ManagesPlatform, dry_run: bool = False) -> GcReport:
    """Collect every app's old images, the plane's leftovers, and idle preview apps."""
    return _report(service.collect(p, principal, dry_run=dry_run, reap=reap_idle), dry_run)


@router.post("/apps/{name}/gc")
def collect_app(app: AppDeploy, p: PlatformDep, principal: Self, dry_run: bool = False) -> GcReport:
    """Collect the app's images beyond the releases it keeps for rollback."""
    return _report(service.collect(p, principal, app=app.name, dry_run=dry_run), dry_run)

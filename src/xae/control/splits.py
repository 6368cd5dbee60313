"""Weighted traffic splits between releases of an app: the store's side and the desired state.

A split (`xae routes:split --app APP v7=90 v8=10`) is stored on the app (`App.split`). While it
is on, the app's plan (`plan_split`) carries, beside the current release's processes, the `web`
process of every other release in the split with a weight above 0 (the app's web quantity each,
at least 1); the strategies run and health-check them like a rollout's instances, and route by
weight (`xae.control.routes.Split`). Ending the split is the same machinery: the next plan has
no other release, so its instances are stale and drained after the route left them.

A split is set under the app's lock and converged at once: if a release it names cannot be
started or never passes its health check, the split is put back as it was, the instances the
attempt started are removed, and the caller gets the reason. Nothing changes for a bad split.

A new current release (a deploy, a config change, a rollback) ends the split: the rollout
plans the new release alone (`Platform.plan` adds a split only to the current release's plan)
and `end_for_new_release` clears it once the new release is current, with an audit event. A
user who set `v7=90 v8=10` decided about v7 and v8; sending 90% to a v9 nobody weighed, or
keeping 10% on a canary the deploy superseded, is what a canary's user would not expect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from xae.auth.policy import Principal, app_not_found
from xae.control.audit import record
from xae.control.configvars import open_config
from xae.control.domains import list_domains
from xae.control.limits import check_instances
from xae.control.plan import plan_app
from xae.domain.splits import Share, extra_web_sets, validate_shares
from xae.domain.states import ReleaseStatus
from xae.errors import ImageCollected, InvalidInput, NotFound, XaeError
from xae.runtime.base import AppPlan, ProcessPlan, SplitPlan
from xae.store.models import App, Build, Formation, Release

if TYPE_CHECKING:
    from xae.control.platform import Platform

log = logging.getLogger("xae.control.splits")


@dataclass(frozen=True)
class ReleaseRoute:
    """One release's part of an app's route, as `xae routes` shows it."""

    version: int
    weight: int
    instances: int
    """Healthy web instances the router sends this release's share to."""


@dataclass(frozen=True)
class RoutesInfo:
    hosts: list[str]
    current: int | None
    releases: list[ReleaseRoute]
    """The split's releases; without a split, the current release alone with weight 100."""
    split: bool
    sticky: bool
    redirect_https: bool
    max_body: int | None
    read_timeout: int | None
    scale_from_zero: bool


def shares_of(app: App) -> list[Share]:
    return [Share(int(s["version"]), int(s["weight"])) for s in app.split or []]


# -- the desired state --------------------------------------------------------------------


def plan_split(session: Session, p: Platform, app: App, plan: AppPlan) -> AppPlan:
    """`plan` (of the app's current release) with the app's split added, if it has one."""
    shares = shares_of(app)
    if not shares:
        return plan
    formations = list(session.scalars(select(Formation).where(Formation.app_id == app.id)))
    web: list[ProcessPlan] = []
    for share in shares:
        if share.weight == 0 or share.version == plan.release:
            continue
        other = _web_of(session, p, app, share.version, formations)
        if other is None:
            log.warning(
                "%s: %s of the split cannot run (no image): it gets no traffic",
                app.name,
                share.label,
            )
            continue
        web.append(other)
    processes = plan.processes
    if any(s.version == plan.release and s.weight > 0 for s in shares):
        # The current release serves its share too, even when `web` is scaled to 0.
        processes = tuple(
            replace(proc, quantity=max(1, proc.quantity)) if proc.process == "web" else proc
            for proc in plan.processes
        )
    split = SplitPlan(
        weights=tuple((s.version, s.weight) for s in shares),
        sticky=app.split_sticky,
        web=tuple(web),
    )
    return replace(plan, processes=processes, split=split)


def _web_of(
    session: Session, p: Platform, app: App, version: int, formations: list[Formation]
) -> ProcessPlan | None:
    release = session.scalar(
        select(Release).where(Release.app_id == app.id, Release.version == version)
    )
    if release is None or release.build_id is None:
        return None
    build = session.get(Build, release.build_id)
    if build is None or not build.image or "web" not in build.processes:
        return None
    config = open_config(p.vault, release)
    other = plan_app(app, release, build, formations, p.settings, config)
    for proc in other.processes:
        if proc.process == "web":
            return replace(proc, quantity=max(1, proc.quantity))
    return None


# -- reading ------------------------------------------------------------------------------


def routes_of(p: Platform, session: Session, app: App) -> RoutesInfo:
    """What `xae routes` shows: hosts, the split (or the current release), the settings."""
    current = app.current_release.version if app.current_release else None
    served = p.routes.split(app.name)
    healthy = {b.release: len(b.upstreams) for b in served.backends} if served else {}
    shares = shares_of(app)
    if shares:
        releases = [ReleaseRoute(s.version, s.weight, healthy.get(s.label, 0)) for s in shares]
    elif current is not None:
        releases = [ReleaseRoute(current, 100, len(p.routes.upstreams(app.name)))]
    else:
        releases = []
    hosts = [p.routes.host_for(app.name), *(d.hostname for d in list_domains(session, app))]
    return RoutesInfo(
        hosts=hosts,
        current=current,
        releases=releases,
        split=bool(shares),
        sticky=bool(shares) and app.split_sticky,
        redirect_https=app.redirect_https,
        max_body=app.max_body,
        read_timeout=app.read_timeout,
        scale_from_zero=app.scale_from_zero,
    )


# -- changing -----------------------------------------------------------------------------


def get_app(session: Session, name: str, app_id: int | None = None) -> App:
    """As `xae.control.apps.get_app` (which imports the platform, which imports this)."""
    app = session.scalar(select(App).where(App.name == name))
    if app is None or (app_id is not None and app.id != app_id):
        raise app_not_found(name)
    return app


def _check_releases(session: Session, app: App, shares: list[Share]) -> None:
    """Every share names a succeeded release of `app` with an image; else say which and why."""
    for share in shares:
        release = session.scalar(
            select(Release).where(Release.app_id == app.id, Release.version == share.version)
        )
        if release is None:
            raise NotFound(
                f"{app.name} has no release {share.label}: see `xae releases --app {app.name}`"
            )
        if release.status != ReleaseStatus.SUCCEEDED:
            raise InvalidInput(
                f"{share.label} of {app.name} is {release.status.value}, and only a release "
                f"that was rolled out successfully can take traffic: pick another release"
            )
        build = session.get(Build, release.build_id) if release.build_id else None
        if build is None or not build.image:
            raise InvalidInput(
                f"{share.label} of {app.name} has no image to run: pick another release"
            )
        if build.image_collected_at is not None:
            raise ImageCollected(
                f"the image of {share.label} of {app.name} was garbage-collected: redeploy "
                "that code, or pick a newer release"
            )
        if "web" not in build.processes:
            raise InvalidInput(
                f"{share.label} of {app.name} has no `web` process, so it cannot serve "
                "requests: pick a release whose Procfile has one"
            )


def set_split(
    p: Platform,
    user: Principal,
    name: str,
    shares: list[Share],
    *,
    sticky: bool = False,
    app_id: int | None = None,
) -> None:
    """Split `name`'s traffic by `shares` and return once the router serves the split.

    The releases' web instances are started and health-checked first; if any release cannot
    serve, the split is put back as it was and the error says why."""
    validate_shares(shares)
    stored = [{"version": s.version, "weight": s.weight} for s in shares]
    details = {"split": {s.label: s.weight for s in shares}, "sticky": sticky}
    with p.change(name):
        with p.db.session() as session:
            app = get_app(session, name, app_id)
            if app.current_release_id is None:
                raise InvalidInput(
                    f"{name} has no release yet: deploy it before splitting its traffic"
                )
            _check_releases(session, app, shares)
            # Each other release runs the web quantity (at least 1): the ceiling counts them.
            quantities = {
                f.process_type: f.quantity
                for f in session.scalars(select(Formation).where(Formation.app_id == app.id))
            }
            quantities["web"] = max(1, quantities.get("web", 0)) * (1 + extra_web_sets(stored))
            check_instances(p.limits, name, quantities)
            before = (app.split, app.split_sticky)
            app.split, app.split_sticky = stored, sticky
        try:
            p.converge_held(name)
        except Exception as e:
            with p.db.session() as session:
                app = get_app(session, name)
                app.split, app.split_sticky = before
                reason = e.message if isinstance(e, XaeError) else type(e).__name__
                record(
                    session,
                    user,
                    "routes.split",
                    name,
                    app=name,
                    result="failed",
                    details={**details, "error": reason[:500]},
                )
            raise
        with p.db.session() as session:
            record(session, user, "routes.split", name, app=name, details=details)


def clear_split(p: Platform, user: Principal, name: str, *, app_id: int | None = None) -> bool:
    """End `name`'s split: all traffic to the current release, the other releases' instances
    drained. Returns False when there was no split (nothing changes)."""
    with p.change(name):
        with p.db.session() as session:
            app = get_app(session, name, app_id)
            if app.split is None:
                return False
            app.split, app.split_sticky = None, False
            record(session, user, "routes.unsplit", name, app=name)
        p.converge_held(name)
    return True


def end_for_new_release(session: Session, app: App, actor: str, version: int) -> bool:
    """Called when `version` became `app`'s current release: end its split, if it had one."""
    if app.split is None:
        return False
    ended = {s.label: s.weight for s in shares_of(app)}
    app.split, app.split_sticky = None, False
    record(
        session,
        actor,
        "routes.unsplit",
        app.name,
        app=app.name,
        details={"split": ended, "reason": f"v{version} became the current release"},
    )
    return True

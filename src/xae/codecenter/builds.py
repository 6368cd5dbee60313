"""The build service's shared state and its history: one queue and one notifier per control
plane, the builds an app made, cancelling one, and how much build log is kept.

The queue (`xae.codecenter.queue`) must be one per process: every deploy of every app, through
any front door (an upload, an image, a git push), takes its turn in the same queue, or two
deploys of one app could race again. The pipeline is made per request, so the queue cannot
live in it; it lives here, keyed by the `Platform` the process serves (a weak key: a test's
platform, and its queue, go away together).

Build history is the `builds` table itself: every build keeps its row (releases point at
them), but only the newest `build_logs_kept` builds of an app keep their log, so a busy app's
history cannot grow the store without bound.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xae.auth.policy import Principal
from xae.codecenter.notify import Notifier
from xae.codecenter.queue import BuildQueue, CancelOutcome
from xae.control.audit import record
from xae.control.platform import Platform
from xae.errors import Conflict, NotFound
from xae.store.models import App, Build

CANCEL_WAIT = 90.0
"""How long `builds:cancel` waits for a running build to be stopped (its step containers
removed: `xae.builder.jail.STEP_GONE_WAIT`, and the engine's answer) before answering."""


@dataclass
class BuildService:
    """One control plane's build queue and notifier."""

    queue: BuildQueue
    notifier: Notifier


_services: weakref.WeakKeyDictionary[Platform, BuildService] = weakref.WeakKeyDictionary()
_services_lock = threading.Lock()


def build_service(p: Platform) -> BuildService:
    """The build service of the control plane `p` serves (made on first use)."""
    with _services_lock:
        service = _services.get(p)
        if service is None:
            service = BuildService(
                queue=BuildQueue(p.settings.build_concurrency),
                notifier=Notifier(p.db, p.vault, p.settings),
            )
            _services[p] = service
        return service


def app_builds(session: Session, app: App, limit: int = 50) -> list[Build]:
    """The app's builds, newest first."""
    return list(
        session.scalars(
            select(Build).where(Build.app_id == app.id).order_by(Build.id.desc()).limit(limit)
        )
    )


def get_build(session: Session, app: App, build_id: int) -> Build:
    build = session.get(Build, build_id)
    if build is None or build.app_id != app.id:
        raise NotFound(f"{app.name} has no build {build_id}: see `xae builds --app {app.name}`")
    return build


def cancel_build(p: Platform, user: Principal | str, app: App, build_id: int) -> str:
    """Cancel the app's build `build_id` (queued: it never starts; running: it is stopped) on
    `user`'s behalf; what happened, in a sentence. `Conflict` when it is over or rolling out."""
    with p.db.session() as session:
        status = get_build(session, app, build_id).status
    if status.finished:
        raise Conflict(f"build {build_id} of {app.name} is {status} already: nothing to cancel")
    outcome, ticket = build_service(p).queue.cancel(build_id)
    if outcome == CancelOutcome.TOO_LATE:
        raise Conflict(
            f"build {build_id} of {app.name} is built and its release is rolling out: it can no "
            "longer be cancelled (roll back afterwards with `xae rollback`)"
        )
    if outcome == CancelOutcome.UNKNOWN or ticket is None:
        raise Conflict(
            f"build {build_id} of {app.name} is not in this control plane's build queue (it "
            "has just finished): see `xae builds:info`"
        )
    with p.db.session() as session:
        record(
            session,
            user,
            "build.cancel",
            app.name,
            app=app.name,
            details={"build": build_id, "was": str(outcome)},
        )
    ticket.over.wait(CANCEL_WAIT)
    if outcome == CancelOutcome.QUEUED:
        return f"build {build_id} of {app.name} was cancelled before it started"
    return f"build {build_id} of {app.name} was cancelled and stopped"


def prune_logs(session: Session, app_id: int, keep: int) -> int:
    """Drop the logs of the app's builds older than its newest `keep`; how many."""
    newest = select(Build.id).where(Build.app_id == app_id).order_by(Build.id.desc()).limit(keep)
    result = session.execute(
        update(Build)
        .where(Build.app_id == app_id, Build.id.not_in(newest), Build.log != "")
        .values(log="")
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)

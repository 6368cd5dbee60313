"""Start-up recovery: what a killed control plane left half done is settled before anything runs.

A deploy's rollout runs inside the API process. When that process dies during the rollout (a
SIGKILL, an out-of-memory kill, a power cut), its release stays `pending` and its build
`running` forever, and nobody would remove what the rollout had started. At start-up, before
the API answers, no rollout can be in progress (the single control plane is this process), so
every `pending` release is marked failed with the reason, every `running` or `queued` build
failed (the build queue lives in the process), both in the audit trail. The reconciler then
drains their instances: their spec is not in the current plan (or, for an interrupted first
deploy, the app has no release to run).

It must run before the API serves requests: a rollout started by this process is never pending
here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select

from xae.control.audit import record
from xae.domain.states import BuildStatus, ReleaseStatus
from xae.store.db import Database
from xae.store.models import App, Build, Release, utcnow

log = logging.getLogger("xae.control.recovery")
ACTOR = "xae"
RELEASE_REASON = "interrupted: the control plane stopped during its rollout"
BUILD_REASON = "interrupted: the control plane stopped during the build"


@dataclass(frozen=True)
class Interrupted:
    releases: list[tuple[str, int]]
    """(app, version) of each release marked failed."""
    builds: list[tuple[str, int]]
    """(app, build id) of each build marked failed."""


def fail_interrupted(db: Database) -> Interrupted:
    """Mark every `pending` release and `running` build failed, saying they were interrupted."""
    releases: list[tuple[str, int]] = []
    builds: list[tuple[str, int]] = []
    with db.session() as session:
        pending = session.execute(
            select(Release, App.name)
            .join(App, App.id == Release.app_id)
            .where(Release.status == ReleaseStatus.PENDING)
            .order_by(Release.id)
        ).all()
        for release, app in pending:
            release.status = ReleaseStatus.FAILED
            release.failure_reason = RELEASE_REASON
            record(
                session,
                ACTOR,
                "release.rollout",
                app,
                app=app,
                result="failed",
                details={"version": release.version, "error": RELEASE_REASON},
            )
            releases.append((app, release.version))
        running = session.execute(
            select(Build, App.name)
            .join(App, App.id == Build.app_id)
            .where(Build.status.in_((BuildStatus.RUNNING, BuildStatus.QUEUED)))
            .order_by(Build.id)
        ).all()
        for build, app in running:
            build.status, build.finished_at = BuildStatus.FAILED, utcnow()
            build.log = (build.log + "\n" if build.log else "") + BUILD_REASON
            record(
                session,
                ACTOR,
                "build",
                app,
                app=app,
                result="failed",
                details={"build": build.id, "error": BUILD_REASON},
            )
            builds.append((app, build.id))
    for app, version in releases:
        log.warning("%s v%d: %s; marked failed", app, version, RELEASE_REASON)
    for app, build_id in builds:
        log.warning("%s build %d: %s; marked failed", app, build_id, BUILD_REASON)
    return Interrupted(releases=releases, builds=builds)

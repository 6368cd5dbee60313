"""Builds: an app's build history, one build, its stored log, and cancelling one.

Reading needs the app's read action; cancelling the deploy action (whoever may start a deploy
may stop one). A build's log is the build's own output: builds get no config vars, so no
config value can be in it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from xae.api.deps import PlatformDep, SessionDep
from xae.api.guards import AppDeploy, AppRead, Self
from xae.api.pagination import PageDep, page
from xae.api.responses import errors
from xae.api.schemas import MAX_INT, BuildCancelResult, BuildLog, BuildPublic
from xae.codecenter.builds import cancel_build, get_build
from xae.store.models import Build, Release, utcnow

router = APIRouter(prefix="/v1/apps", tags=["builds"])

BuildId = Annotated[int, Path(ge=1, le=MAX_INT, description="the id `xae builds` shows")]


def build_public(session: Session, build: Build) -> BuildPublic:
    start = build.started_at
    end = build.finished_at or (utcnow() if start and not build.status.finished else None)
    version = session.scalar(
        select(Release.version)
        .where(Release.build_id == build.id)
        .order_by(Release.version)
        .limit(1)
    )
    return BuildPublic(
        id=build.id,
        status=str(build.status),
        stack=build.stack,
        image=build.image,
        source=build.source_kind,
        commit=build.commit_sha,
        commit_message=build.commit_message,
        branch=build.branch,
        started_by=build.started_by,
        queued_at=build.queued_at,
        started_at=start,
        finished_at=build.finished_at,
        duration=round((end - start).total_seconds(), 2) if start and end else None,
        release=version,
    )


@router.get("/{name}/builds")
def list_builds(
    app: AppRead, session: SessionDep, pages: PageDep, request: Request, response: Response
) -> list[BuildPublic]:
    """Newest first."""
    query = (
        select(Build).where(Build.app_id == app.id).order_by(Build.id.desc()).limit(pages.limit + 1)
    )
    after = pages.after_number()
    if after is not None:
        query = query.where(Build.id < after)
    rows = list(session.scalars(query))
    shown = page(rows, pages, lambda b: str(b.id), request, response)
    return [build_public(session, b) for b in shown]


@router.get("/{name}/builds/{build_id}")
def build_info(app: AppRead, build_id: BuildId, session: SessionDep) -> BuildPublic:
    return build_public(session, get_build(session, app, build_id))


@router.get("/{name}/builds/{build_id}/log")
def build_log(app: AppRead, build_id: BuildId, session: SessionDep) -> BuildLog:
    """The stored log (only the app's newest `build_logs_kept` builds keep theirs)."""
    build = get_build(session, app, build_id)
    kept = bool(build.log) or not build.status.finished
    return BuildLog(id=build.id, status=str(build.status), log=build.log, kept=kept)


@router.post("/{name}/builds/{build_id}/cancel", responses=errors(409))
def cancel(app: AppDeploy, build_id: BuildId, p: PlatformDep, user: Self) -> BuildCancelResult:
    """Cancel a queued build (it never starts) or a running one (it is stopped); the
    deploy's stream ends with an `error`, and the current release keeps serving."""
    message = cancel_build(p, user, app, build_id)
    with p.db.session() as session:
        return BuildCancelResult(
            message=message, build=build_public(session, get_build(session, app, build_id))
        )

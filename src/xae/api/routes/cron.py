"""Cron jobs of an app: list jobs and runs (app read), add, remove and run now (deploy level),
a run's stored output (the app's logs level).

Every check of a job (name, schedule, zone, overlap) happens in `xae.control.cron`; the
schedule's own text is the only input an error message repeats.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from xae.api.deps import PlatformDep
from xae.api.guards import AppDeploy, AppLogs, AppRead, Self
from xae.api.responses import errors
from xae.api.schemas import MAX_INT, CronJobCreate, CronJobPublic, CronRunLogs, CronRunPublic
from xae.control import cron as service
from xae.store.models import CronJob, CronRun

router = APIRouter(prefix="/v1/apps", tags=["cron"])


def _job(row: CronJob) -> CronJobPublic:
    return CronJobPublic(
        name=row.name,
        schedule=row.schedule,
        zone=row.zone,
        command=row.command,
        overlap=row.overlap,
        timeout=row.timeout,
        source=row.source,
        next_run_at=row.next_run_at,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _run(row: CronRun, job: str) -> CronRunPublic:
    duration = (
        (row.finished_at - row.started_at).total_seconds()
        if row.finished_at is not None and row.status != service.SKIPPED
        else None
    )
    return CronRunPublic(
        id=row.id,
        job=job,
        release=row.release,
        status=row.status,
        trigger=row.trigger,
        due_at=row.due_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        exit_code=row.exit_code,
        reason=row.reason,
        duration=duration,
    )


@router.get("/{name}/cron")
def list_jobs(app: AppRead, p: PlatformDep) -> list[CronJobPublic]:
    """The app's cron jobs, by name, with the time each runs next (UTC)."""
    with p.db.session() as session:
        return [_job(row) for row in service.list_jobs(session, app)]


@router.post("/{name}/cron", status_code=status.HTTP_201_CREATED, responses=errors(409))
def add_job(app: AppDeploy, body: CronJobCreate, p: PlatformDep, principal: Self) -> CronJobPublic:
    """Run a command on a schedule, in a one-off container of the app's current release."""
    spec = service.JobSpec(
        name=body.name,
        schedule=body.schedule,
        command=body.command,
        zone=body.zone,
        overlap=body.overlap,
        timeout=body.timeout,
    )
    return _job(service.add_job(p, principal, app.name, spec, app_id=app.id))


@router.delete("/{name}/cron/{job}", status_code=status.HTTP_204_NO_CONTENT)
def remove_job(app: AppDeploy, job: str, p: PlatformDep, principal: Self) -> Response:
    service.remove_job(p, principal, app.name, job, app_id=app.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{name}/cron/{job}/runs", status_code=status.HTTP_202_ACCEPTED, responses=errors(429))
def run_job(app: AppDeploy, job: str, p: PlatformDep, principal: Self) -> CronRunPublic:
    """Start a run of the job now (its overlap policy holds); follow it with its id."""
    run_id = service.run_now(p, principal, app.name, job, app_id=app.id)
    with p.db.session() as session:
        return _run(service.get_run(session, app, run_id), job)


@router.get("/{name}/cron-runs")
def list_runs(
    app: AppRead, p: PlatformDep, job: str | None = None, limit: int = 50
) -> list[CronRunPublic]:
    """The app's latest cron runs (of `job`, if given), newest first."""
    with p.db.session() as session:
        runs = service.list_runs(session, app, job, max(1, min(limit, 200)))
        names = service.job_names(session, {r.job_id for r in runs})
        return [_run(r, names.get(r.job_id, "")) for r in runs]


@router.get("/{name}/cron-runs/{run_id}")
def run_logs(
    app: AppLogs,
    run_id: Annotated[int, Path(ge=1, le=MAX_INT, description="the id `xae cron:runs` shows")],
    p: PlatformDep,
) -> CronRunLogs:
    """One run and the tail of its output (recorded when the run ends)."""
    with p.db.session() as session:
        run = service.get_run(session, app, run_id)
        job = service.job_names(session, {run.job_id}).get(run.job_id, "")
        return CronRunLogs(**_run(run, job).model_dump(), output=run.output)

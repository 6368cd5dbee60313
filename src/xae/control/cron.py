"""Cron jobs: commands an app runs on a schedule, each run a one-off of its current release.

Jobs are rows (`CronJob`), from `xae cron:add` (source `cli`) or from the app's manifest
(`set_manifest_jobs`, source `manifest`). Every run (and every skipped one) is a `CronRun`
with its times, exit code and the tail of its output; the history is bounded per job.

Where runs execute is a strategy chosen by the backend (`xae.control.cronrunner`): on docker
xae's scheduler (`xae.control.cronscheduler`) starts each run as a one-off container
(`execute_run`, here); on kubernetes each job is a CronJob the cluster runs and a watcher
records its Jobs (`xae.control.cronjobs`). A run uses the app's current release at the time
it starts. A run started by hand (`xae cron:run`) goes through the same strategy.

Runs hold no lock of the app: a deploy never waits for a cron run, nor a run for a deploy.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from xae.auth.policy import Principal
from xae.control.apps import get_app
from xae.control.audit import SYSTEM, record
from xae.control.cronrunner import CronRunner
from xae.control.oneoff import OneOffTimedOut, run_in_release
from xae.control.platform import Platform
from xae.domain.cron import Overlap, Schedule, bounded_output, parse_overlap, parse_schedule
from xae.errors import AlreadyExists, InvalidInput, NotFound, RuntimeUnavailable, XaeError
from xae.store.models import App, CronJob, CronRun, utcnow

log = logging.getLogger("xae.control.cron")
JOB_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$")
CLI, MANIFEST = "cli", "manifest"
RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
TIMED_OUT, SKIPPED, INTERRUPTED = "timed_out", "skipped", "interrupted"
MAX_COMMAND = 1000


@dataclass(frozen=True)
class JobSpec:
    """A cron job as a user or a manifest declares it (checked by `check_job`)."""

    name: str
    schedule: str
    command: str
    zone: str | None = None
    overlap: str | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class CheckedJob:
    name: str
    schedule: Schedule
    command: str
    overlap: Overlap
    timeout: float | None


def check_job(job: JobSpec) -> CheckedJob:
    """`job` checked: errors name the field and what is wrong (the schedule's own text)."""
    if not JOB_NAME.fullmatch(job.name):
        raise InvalidInput(
            f"the cron job name {job.name[:40]!r} must be lowercase letters, digits and '-', "
            "starting with a letter, at most 20 characters"
        )
    command = job.command.strip()
    if not command:
        raise InvalidInput(f"cron job {job.name}: the command is empty")
    if len(command) > MAX_COMMAND or "\n" in command or "\x00" in command:
        raise InvalidInput(
            f"cron job {job.name}: the command must be one line of at most {MAX_COMMAND} characters"
        )
    if job.timeout is not None and not 1 <= job.timeout <= 86400:
        raise InvalidInput(f"cron job {job.name}: the timeout must be 1 to 86400 seconds")
    schedule = parse_schedule(job.schedule, job.zone)
    return CheckedJob(job.name, schedule, command, parse_overlap(job.overlap), job.timeout)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def next_run(job: CronJob, after: datetime) -> datetime:
    """The job's next time strictly after `after`, naive UTC as the store keeps times."""
    return _naive(Schedule(job.schedule, job.zone).next_after(_aware(after)))


def _apply(row: CronJob, job: CheckedJob, now: datetime) -> None:
    row.schedule, row.zone = job.schedule.expression, job.schedule.zone
    row.command, row.overlap, row.timeout = job.command, job.overlap.value, job.timeout
    row.next_run_at = _naive(job.schedule.next_after(_aware(now)))


def list_jobs(session: Session, app: App) -> list[CronJob]:
    return list(
        session.scalars(select(CronJob).where(CronJob.app_id == app.id).order_by(CronJob.name))
    )


def _count_check(p: Platform, session: Session, app: App, adding: int) -> None:
    have = session.scalar(select(func.count()).where(CronJob.app_id == app.id)) or 0
    if have + adding > p.settings.cron_jobs_per_app:
        raise InvalidInput(
            f"{app.name} may have at most {p.settings.cron_jobs_per_app} cron jobs: remove one "
            "with `xae cron:remove NAME`"
        )


def add_job(
    p: Platform,
    user: Principal,
    app_name: str,
    job: JobSpec,
    *,
    app_id: int | None = None,
    now: datetime | None = None,
) -> CronJob:
    """Add a cron job (source `cli`); a job of that name already there is refused."""
    checked = check_job(job)
    with p.db.session() as session:
        app = get_app(session, app_name, app_id)
        taken = session.scalar(
            select(CronJob).where(CronJob.app_id == app.id, CronJob.name == checked.name)
        )
        if taken is not None:
            raise AlreadyExists(
                f"{app_name} already has a cron job {checked.name} (from {taken.source}): "
                f"remove it first with `xae cron:remove {checked.name} --app {app_name}`"
            )
        _count_check(p, session, app, 1)
        row = CronJob(app_id=app.id, name=checked.name, source=CLI, created_by=user.name)
        _apply(row, checked, now or utcnow())
        session.add(row)
        session.flush()
        record(
            session,
            user,
            "cron.add",
            f"{app_name}/{checked.name}",
            app=app_name,
            details={"schedule": row.schedule, "zone": row.zone, "overlap": row.overlap},
        )
        session.expunge(row)
        return row


def remove_job(
    p: Platform, user: Principal, app_name: str, name: str, *, app_id: int | None = None
) -> None:
    """Remove a job and its history (a run going on finishes, its row goes with the job)."""
    with p.db.session() as session:
        app = get_app(session, app_name, app_id)
        row = _job(session, app, name)
        session.delete(row)
        record(session, user, "cron.remove", f"{app_name}/{row.name}", app=app_name)


def set_manifest_jobs(
    session: Session,
    app: App,
    jobs: list[JobSpec],
    *,
    limit: int = 20,
    now: datetime | None = None,
) -> list[str]:
    """Make the app's manifest jobs exactly `jobs` (in the caller's transaction): new ones
    added, changed ones updated (their next run recomputed only if their schedule changed),
    manifest jobs no longer listed removed. A `cli` job of a listed name becomes the
    manifest's. Returns the names now from the manifest. Raises `InvalidInput` (naming the
    job) before changing anything if any job is invalid, two share a name, or the app would
    have more than `limit` jobs (pass `XAE_CRON_JOBS_PER_APP`)."""
    checked = [check_job(job) for job in jobs]
    names = [job.name for job in checked]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInput(f"the manifest declares the cron job {twice[0]} twice")
    moment = now or utcnow()
    existing = {row.name: row for row in list_jobs(session, app)}
    adding = sum(1 for n in names if n not in existing)
    dropping = sum(1 for r in existing.values() if r.source == MANIFEST and r.name not in names)
    if len(existing) + adding - dropping > limit:
        raise InvalidInput(
            f"{app.name} may have at most {limit} cron jobs (those added with `xae cron:add` "
            "count too)"
        )
    for row in existing.values():
        if row.source == MANIFEST and row.name not in names:
            session.delete(row)
    for job in checked:
        found = existing.get(job.name)
        if found is None:
            row = CronJob(app_id=app.id, name=job.name, created_by="manifest")
            session.add(row)
            _apply(row, job, moment)
        else:
            row, due = found, found.next_run_at
            same_times = (row.schedule, row.zone) == (job.schedule.expression, job.schedule.zone)
            _apply(row, job, moment)
            if same_times:  # unchanged schedule: its next run stays where it was
                row.next_run_at = due
        row.source = MANIFEST
    session.flush()
    return names


def _job(session: Session, app: App, name: str) -> CronJob:
    row = session.scalar(select(CronJob).where(CronJob.app_id == app.id, CronJob.name == name))
    if row is None:
        raise NotFound(f"{app.name} has no cron job {name[:30]!r}: see `xae cron --app {app.name}`")
    return row


def list_runs(session: Session, app: App, name: str | None, limit: int = 50) -> list[CronRun]:
    query = select(CronRun).where(CronRun.app_id == app.id)
    if name is not None:
        query = query.where(CronRun.job_id == _job(session, app, name).id)
    return list(session.scalars(query.order_by(CronRun.id.desc()).limit(limit)))


def get_run(session: Session, app: App, run_id: int) -> CronRun:
    run = session.get(CronRun, run_id)
    if run is None or run.app_id != app.id:
        raise NotFound(f"{app.name} has no cron run {run_id}: see `xae cron:runs --app {app.name}`")
    return run


def job_names(session: Session, job_ids: set[int]) -> dict[int, str]:
    if not job_ids:
        return {}
    rows = session.execute(select(CronJob.id, CronJob.name).where(CronJob.id.in_(job_ids)))
    return {job_id: name for job_id, name in rows}


# -- running ---------------------------------------------------------------------------------


def begin_run(
    session: Session, job: CronJob, *, trigger: str, due_at: datetime | None, status: str = RUNNING
) -> CronRun:
    run = CronRun(
        job_id=job.id,
        app_id=job.app_id,
        status=status,
        trigger=trigger,
        due_at=due_at,
        finished_at=utcnow() if status != RUNNING else None,
    )
    session.add(run)
    session.flush()
    return run


def running_count(session: Session, job_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(CronRun.job_id == job_id, CronRun.status == RUNNING)
        )
        or 0
    )


def execute_run(p: Platform, run_id: int) -> None:
    """Run the one-off of run `run_id` to its end and record how it ended. Never raises: the
    outcome is the run's row (a scheduler thread has nobody to tell)."""
    with p.db.session() as session:
        run = session.get(CronRun, run_id)
        if run is None:
            return
        job = session.get(CronJob, run.job_id)
        app = session.get(App, run.app_id)
        if job is None or app is None:
            return
        app_name, command, timeout = app.name, job.command, job.timeout
        release = app.current_release
        release_id = release.id if release else None
        run.release = release.version if release else None
        job_name = job.name
    lines: list[str] = []
    lock = threading.Lock()
    limit = p.settings.cron_output_bytes

    def keep(line: str) -> None:
        with lock:
            lines.append(line)
            if len(lines) > 4 * limit // 80 + 100:  # keep the tail; bounded_output cuts exact
                del lines[: len(lines) // 2]

    status, code, reason = FAILED, None, None
    try:
        if release_id is None:
            raise InvalidInput(f"{app_name} has no release to run in: deploy it first")
        code = run_in_release(
            p,
            app_name,
            release_id,
            command,
            "cron",
            f"cron-{job_name}-{run_id}",
            keep,
            timeout=timeout,
        )
        status = SUCCEEDED if code == 0 else FAILED
        reason = None if code == 0 else f"exit code {code}"
    except OneOffTimedOut as e:
        status, reason = TIMED_OUT, e.message
    except XaeError as e:
        reason = e.message
    except Exception as e:  # a bug must not kill the scheduler: the run records it
        log.exception("cron run %s of %s failed", run_id, app_name)
        reason = f"unexpected {type(e).__name__}"
    with lock:
        output = bounded_output(lines, limit)
    with p.db.session() as session:
        run = session.get(CronRun, run_id)
        if run is None:  # the job or app was removed meanwhile
            return
        run.status, run.exit_code, run.finished_at = status, code, utcnow()
        run.reason = reason[:500] if reason else None
        run.output = output
        prune_runs(session, run.job_id, p.settings.cron_runs_kept)
        record(
            session,
            SYSTEM,
            "cron.run",
            f"{app_name}/{job_name}",
            app=app_name,
            result="ok" if status == SUCCEEDED else status,
            details={"run": run_id, "exit_code": code},
        )


def prune_runs(session: Session, job_id: int, keep: int) -> None:
    stale = list(
        session.scalars(
            select(CronRun.id)
            .where(CronRun.job_id == job_id, CronRun.status != RUNNING)
            .order_by(CronRun.id.desc())
            .offset(keep)
        )
    )
    if stale:
        session.execute(delete(CronRun).where(CronRun.id.in_(stale)))


Starter = Callable[[int], None]
"""Starts run `run_id` somewhere (a thread, in the server) and returns at once."""


def run_here(p: Platform) -> Starter:
    """Runs in the caller's thread, then frees the run's slot (`Platform.cron_slots`)."""

    def start(run_id: int) -> None:
        try:
            execute_run(p, run_id)
        finally:
            p.cron_slots.release_run(run_id)

    return start


def start_in_thread(p: Platform) -> Starter:
    """Each run in a thread of its own; `Platform.start_cron_run` instead when it is set."""
    if p.start_cron_run is not None:
        return p.start_cron_run
    body = run_here(p)

    def start(run_id: int) -> None:
        threading.Thread(
            target=body, args=(run_id,), name=f"cron-run-{run_id}", daemon=True
        ).start()

    return start


def run_now(
    p: Platform,
    user: Principal,
    app_name: str,
    name: str,
    *,
    app_id: int | None = None,
    runner: CronRunner | None = None,
) -> int:
    """Start a run of job `name` now, whatever its schedule (its overlap policy and the
    app's limit of runs at once hold); returns the run's id, whose output `xae cron:logs`
    shows once it is recorded. How it starts is the backend's (`Platform.cron_runner`)."""
    chosen = runner or p.cron_runner
    if chosen is None:
        raise RuntimeUnavailable("this control plane cannot start cron runs: restart it")
    admitted: int | None = None
    run_id: int | None = None
    try:
        with p.db.session() as session:
            app = get_app(session, app_name, app_id)
            job = _job(session, app, name)
            if app.current_release_id is None:
                raise InvalidInput(f"{app_name} has no release to run in: deploy it first")
            if job.overlap == Overlap.SKIP and running_count(session, job.id):
                raise InvalidInput(
                    f"a run of {name} is still going and its overlap policy is `skip`: wait "
                    "for it (`xae cron:runs`)"
                )
            chosen.admit(session, app)
            admitted = app.id
            run = begin_run(session, job, trigger="manual", due_at=None)
            run_id = run.id
            chosen.prepare_manual(session, run)
            record(session, user, "cron.run", f"{app_name}/{name}", app=app_name)
    except BaseException:
        if admitted is not None:
            chosen.abandon(admitted, run_id)
        raise
    chosen.start_manual(run_id)
    return run_id

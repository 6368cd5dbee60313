"""Cron on an orchestrator that schedules jobs itself (Kubernetes): `ClusterCronRunner`.

Each cron job of an app is a CronJob in the app's namespace (`xae.runtime.kubernetes.
manifests.cron_job`): the current release's image and config, the overlap policy as its
concurrency policy, the job's time zone. Every pass of the cron loop
- makes the cluster's CronJobs those the store describes (`sync`): a deploy, rollback or
  config change moves them to the new release, an added or removed job adds or deletes one,
  a destroyed app's go (with their Jobs, pods and config);
- records each Job the cluster started as a run (`observe`), and when it ended, how (its exit
  code, its timeout) and the tail of its output, read before the Job's TTL removes it;
- records the times the cluster skipped because a run still ran (its `JobAlreadyActive`
  events), as the docker scheduler records its skips.

A run by hand (`xae cron:run`) is a Job made from the CronJob's template, as
`kubectl create job --from=cronjob/...` makes it. The cluster starts runs whether the control
plane is up or not; what ran while it was down is recorded when it is back (if the Job is
still there). It never decides due times itself: that is the cluster's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xae.control import cron
from xae.control.audit import SYSTEM, record
from xae.control.oneoff import oneoff_spec
from xae.control.platform import Platform
from xae.domain.cron import CATCH_UP, MACROS, Overlap, bounded_output
from xae.errors import RuntimeFailure, TooManyRequests, XaeError
from xae.runtime.base import AppSchedule, ClusterRun, CronCluster, OneOffSpec, ScheduledSpec
from xae.store.models import App, CronJob, CronRun, utcnow

log = logging.getLogger("xae.control.cron")
GONE_AFTER = timedelta(seconds=60)
"""A run recorded `running` whose Job the cluster no longer has, this long after it started,
is recorded `interrupted` (its Job was deleted, or outlived its TTL while the plane was down)."""
MAX_SKIPS_AT_ONCE = 10
OUTCOMES = {"succeeded": cron.SUCCEEDED, "failed": cron.FAILED, "timed_out": cron.TIMED_OUT}
STUCK_GRACE = timedelta(seconds=30)
"""A run whose container cannot start (its image cannot be pulled, ...) this long after it
began is recorded `failed` and its Job deleted, instead of waiting for its timeout."""
SKIPPED_REASON = "skipped: the previous run still runs (overlap: skip)"


def _naive(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(tzinfo=None)


def _jobs_by_name(session: Session) -> dict[tuple[str, str], CronJob]:
    """Every cron job, by (app name, job name): how the cluster's objects name them."""
    return {
        (app_name, job.name): job
        for job, app_name in session.execute(
            select(CronJob, App.name).join(App, App.id == CronJob.app_id)
        ).tuples()
    }


def _stuck_for_good(found: ClusterRun, now: datetime) -> bool:
    """Its container has not started, for a reason the kubelet only retries, for longer than a
    blip of the registry lasts (as a rollout allows)."""
    started = found.started_at
    if not found.stuck or started is None:
        return False
    return (started if started.tzinfo else started.replace(tzinfo=UTC)) + STUCK_GRACE <= now


def manual_job_name(app: str, job: str, run_id: int) -> str:
    """The Job of a run by hand: a DNS label of at most 63 characters, unique by run id."""
    return f"{f'{app}-{job}'[:44].rstrip('-')}-m{run_id}"


class ClusterCronRunner:
    """`CronRunner` where the cluster's CronJobs start the runs and xae records them."""

    def __init__(
        self,
        p: Platform,
        cluster: CronCluster,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.p = p
        self.cluster = cluster
        self.clock = clock
        self._since = clock()
        self._seen: dict[str, int] = {}
        """Skip event → how many of its skips are recorded (by this process)."""
        self._sync = threading.Lock()
        self._bases: dict[tuple[int, int, str], OneOffSpec] = {}
        """(app id, release id, team) → the app's one-off spec in that release. A release never
        changes once made, so its config is opened once, not on every tick."""

    # -- CronRunner ------------------------------------------------------------------------

    def recover(self) -> int:
        """Nothing to settle: the cluster's Jobs ran on; `observe` records how they ended."""
        return 0

    def tick(self) -> list[int]:
        now = self.clock()
        self._advance(now)
        self.sync()
        return self.observe(now)

    def admit(self, session: Session, app: App) -> None:
        limit = self.p.settings.cron_max_running_per_app
        going = (
            session.scalar(
                select(func.count()).where(CronRun.app_id == app.id, CronRun.status == cron.RUNNING)
            )
            or 0
        )
        if going >= limit:
            raise TooManyRequests(
                f"{limit} cron run(s) of {app.name} were going (XAE_CRON_MAX_RUNNING_PER_APP): "
                "try again once one ended",
                retry_after=10,
            )

    def prepare_manual(self, session: Session, run: CronRun) -> None:
        job = session.get(CronJob, run.job_id)
        app = session.get(App, run.app_id)
        assert job is not None and app is not None
        run.backend_ref = manual_job_name(app.name, job.name, run.id)
        run.release = app.current_release.version if app.current_release else None

    def abandon(self, app_id: int, run_id: int | None) -> None:
        """Nothing was taken: the limit is counted from the runs recorded."""

    def start_manual(self, run_id: int) -> None:
        with self.p.db.session() as session:
            run = session.get(CronRun, run_id)
            job = session.get(CronJob, run.job_id) if run else None
            app = session.get(App, run.app_id) if run else None
            if run is None or job is None or app is None or not run.backend_ref:
                return
            app_name, job_name, ref = app.name, job.name, run.backend_ref
        try:
            self.sync()  # a job added a moment ago has its CronJob now
            self.cluster.start_scheduled(app_name, job_name, ref)
        except XaeError as e:
            with self.p.db.session() as session:
                found = session.get(CronRun, run_id)
                if found is not None and found.status == cron.RUNNING:
                    found.status, found.finished_at = cron.FAILED, utcnow()
                    found.reason = e.message[:500]
            raise

    # -- keeping the cluster in step -------------------------------------------------------

    def sync(self) -> None:
        """Make the cluster's CronJobs those of the store (every app's, at its current
        release)."""
        schedules = self.schedules()
        with self._sync:
            self.cluster.apply_schedules(schedules)

    def schedules(self) -> list[AppSchedule]:
        """Every app's cron jobs as the cluster must run them; an app without a release to
        run in has none there."""
        with self.p.db.session() as session:
            rows = list(session.scalars(select(CronJob).order_by(CronJob.app_id, CronJob.name)))
            apps: dict[int, tuple[str, int | None, str]] = {}
            for row in rows:
                if row.app_id not in apps:
                    app = session.get(App, row.app_id)
                    if app is not None:
                        apps[row.app_id] = (app.name, app.current_release_id, app.team.name)
            jobs = [
                (r.app_id, r.name, r.schedule, r.zone, r.command, r.overlap, r.timeout)
                for r in rows
            ]
        out: list[AppSchedule] = []
        bases: dict[tuple[int, int, str], OneOffSpec] = {}
        for app_id, (app_name, release_id, team) in apps.items():
            if release_id is None:
                continue
            mine = [j for j in jobs if j[0] == app_id]
            key = (app_id, release_id, team)
            try:
                base = self._bases.get(key) or oneoff_spec(
                    self.p,
                    app_name,
                    release_id,
                    mine[0][4],
                    kind="cron",
                    name=f"cron-{mine[0][1]}",
                    timeout=self.p.settings.oneoff_timeout,
                )
            except XaeError as e:  # no image to run (yet): its jobs wait for one
                log.info("cron jobs of %s not scheduled: %s", app_name, e.message)
                continue
            bases[key] = base
            specs = tuple(
                ScheduledSpec(
                    job=name,
                    schedule=MACROS.get(schedule, schedule),
                    zone=zone,
                    allow_overlap=overlap == Overlap.ALLOW,
                    starting_deadline=int(CATCH_UP.total_seconds()),
                    oneoff=replace(
                        base,
                        command=command,
                        name=f"cron-{name}",
                        timeout=timeout if timeout is not None else self.p.settings.oneoff_timeout,
                    ),
                )
                for _, name, schedule, zone, command, overlap, timeout in mine
            )
            out.append(AppSchedule(app=app_name, owner=base.owner, jobs=specs))
        self._bases = bases  # only the releases in use now
        return out

    def _advance(self, now: datetime) -> None:
        """Keep each job's `next_run_at` (what `xae cron` shows) ahead of now."""
        naive_now = now.astimezone(UTC).replace(tzinfo=None)
        with self.p.db.session() as session:
            for job in session.scalars(select(CronJob).where(CronJob.next_run_at <= naive_now)):
                job.next_run_at = cron.next_run(job, naive_now)

    # -- recording the cluster's runs ------------------------------------------------------

    def observe(self, now: datetime) -> list[int]:
        """Record the cluster's runs: new ones as `running`, ended ones with how they ended
        and their output, vanished ones as `interrupted`, and its skips. Returns the ids of
        the runs first recorded in this pass."""
        runs = self.cluster.cluster_runs()
        started: list[int] = []
        ended: list[tuple[int, ClusterRun]] = []
        with self.p.db.session() as session:
            jobs = _jobs_by_name(session)
            refs = {
                row.backend_ref: row
                for row in session.scalars(
                    select(CronRun).where(CronRun.backend_ref.in_([r.name for r in runs]))
                )
            }
            for found in runs:
                job = jobs.get((found.app, found.job))
                if job is None:
                    continue  # the job was removed: its CronJob goes at the next sync
                row = refs.get(found.name)
                if row is None:
                    row = self._begin(session, job, found)
                    started.append(row.id)
                if row.status == cron.RUNNING and (
                    found.outcome != "running" or _stuck_for_good(found, now)
                ):
                    ended.append((row.id, found))
            self._settle_vanished(session, {r.name for r in runs}, now)
        for run_id, found in ended:
            self._finish(run_id, found)
        self._record_skips()
        return started

    def _begin(self, session: Session, job: CronJob, found: ClusterRun) -> CronRun:
        run = CronRun(
            job_id=job.id,
            app_id=job.app_id,
            status=cron.RUNNING,
            trigger="schedule",
            due_at=_naive(found.scheduled_at),
            started_at=_naive(found.started_at) or utcnow(),
            release=found.release,
            backend_ref=found.name,
        )
        session.add(run)
        session.flush()
        return run

    def _settle_vanished(self, session: Session, names: set[str], now: datetime) -> None:
        cutoff = _naive(now - GONE_AFTER)
        assert cutoff is not None
        for row in session.scalars(
            select(CronRun).where(
                CronRun.status == cron.RUNNING,
                CronRun.backend_ref.is_not(None),
                CronRun.started_at < cutoff,
            )
        ):
            if row.backend_ref not in names:
                row.status, row.finished_at = cron.INTERRUPTED, utcnow()
                row.reason = (
                    "its Job was gone from the cluster before the control plane recorded how "
                    "it ended"
                )

    def _finish(self, run_id: int, found: ClusterRun) -> None:
        limit = self.p.settings.cron_output_bytes
        lines = self.cluster.run_output(found, max(100, limit // 20))
        status = cron.FAILED if found.stuck else OUTCOMES.get(found.outcome, cron.FAILED)
        reason: str | None = None
        if found.stuck:
            reason = f"its container could not start ({found.stuck}); the run was stopped"
            self._stop(found)
        elif status == cron.FAILED:
            reason = f"exit code {found.exit_code}" if found.exit_code is not None else "failed"
        elif status == cron.TIMED_OUT:
            reason = "the run did not finish within its timeout and was stopped"
        with self.p.db.session() as session:
            run = session.get(CronRun, run_id)
            if run is None or run.status != cron.RUNNING:
                return
            run.status, run.exit_code, run.reason = status, found.exit_code, reason
            run.finished_at = _naive(found.finished_at) or utcnow()
            run.output = bounded_output(lines, limit)
            cron.prune_runs(session, run.job_id, self.p.settings.cron_runs_kept)
            app = session.get(App, run.app_id)
            app_name = app.name if app else found.app
            record(
                session,
                SYSTEM,
                "cron.run",
                f"{app_name}/{found.job}",
                app=app_name,
                result="ok" if status == cron.SUCCEEDED else status,
                details={"run": run_id, "exit_code": found.exit_code},
            )

    def _stop(self, found: ClusterRun) -> None:
        """A run that can never start would hold its job (`Forbid`) until its deadline, the
        pod retrying the pull: the Job goes now. Should that fail, the deadline still ends it."""
        try:
            self.cluster.stop_run(found)
        except RuntimeFailure as e:
            log.warning("could not stop cron run %s (%s): %s", found.name, found.stuck, e)

    def _record_skips(self) -> None:
        """The cluster's skipped times as `skipped` runs. An event counts its skips; those it
        counted before this process first saw it are not replayed (they were recorded by the
        previous control plane, or fell while none ran)."""
        skips = self.cluster.cluster_skips()
        if not skips:
            return
        with self.p.db.session() as session:
            jobs = _jobs_by_name(session)
            for skip in skips:
                seen = self._seen.get(skip.key)
                if seen is None:
                    first = skip.first_at
                    fresh = first is not None and (
                        first if first.tzinfo else first.replace(tzinfo=UTC)
                    ) >= self._since - timedelta(seconds=1)
                    seen = 0 if fresh else skip.count
                job = jobs.get((skip.app, skip.job))
                if job is not None:
                    for _ in range(min(skip.count - seen, MAX_SKIPS_AT_ONCE)):
                        run = cron.begin_run(
                            session,
                            job,
                            trigger="schedule",
                            due_at=_naive(skip.last_at),
                            status=cron.SKIPPED,
                        )
                        run.reason = SKIPPED_REASON
                    cron.prune_runs(session, job.id, self.p.settings.cron_runs_kept)
                self._seen[skip.key] = max(seen, skip.count)

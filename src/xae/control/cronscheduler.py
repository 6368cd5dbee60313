"""The cron loop, and the strategy that runs cron on docker: xae's own scheduler.

`CronScheduler` is one thread in the control plane that, every `XAE_CRON_TICK` seconds, gives
the backend's `CronRunner` a pass (`runner_for` picks it: this module's `ScheduledCronRunner`
on docker, `xae.control.cronjobs.ClusterCronRunner` on an orchestrator that schedules jobs
itself).

`ScheduledCronRunner` reads the jobs whose `next_run_at` has come, asks
`xae.domain.cron.decide` what to do with each, moves each job's `next_run_at` to its next time
after now, and starts the runs (each in its own thread, `xae.control.cron.execute_run`), at
most `XAE_CRON_MAX_RUNNING_PER_APP` of one app and `XAE_CRON_MAX_RUNNING` in all at once (a
run due beyond either is recorded `skipped`, saying which). A time missed while the control
plane was down (or by more than `xae.domain.cron.CATCH_UP`) is not replayed: the job just
waits for its next time. Runs that were going when the control plane stopped are recorded as
`interrupted` at the next start. The clock and the way runs start are injectable, so the
decisions are tested without waiting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xae.control import cron
from xae.control.cronjobs import ClusterCronRunner
from xae.control.cronrunner import CronRunner
from xae.control.platform import Platform
from xae.domain.cron import Decision, Overlap, decide
from xae.errors import TooManyRequests
from xae.runtime.base import CronCluster
from xae.store.models import App, CronJob, CronRun, utcnow

log = logging.getLogger("xae.control.cron")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def runner_for(
    p: Platform,
    *,
    clock: Callable[[], datetime] = _utc_now,
    start: cron.Starter | None = None,
) -> CronRunner:
    """The strategy for `p`'s backend: the cluster's CronJobs where it has them, else xae's
    scheduler."""
    if isinstance(p.backend, CronCluster):
        return ClusterCronRunner(p, p.backend, clock=clock)
    return ScheduledCronRunner(p, clock=clock, start=start)


class ScheduledCronRunner:
    """`CronRunner` where xae decides the due times and runs each one-off itself (docker)."""

    def __init__(
        self,
        p: Platform,
        *,
        clock: Callable[[], datetime] = _utc_now,
        start: cron.Starter | None = None,
    ) -> None:
        self.p = p
        self.clock = clock
        self._start = start or cron.start_in_thread(p)

    def recover(self) -> int:
        """Record the runs a previous control plane left `running` as interrupted."""
        with self.p.db.session() as session:
            result = session.execute(
                update(CronRun)
                .where(CronRun.status == cron.RUNNING)
                .values(
                    status=cron.INTERRUPTED,
                    finished_at=utcnow(),
                    reason="the control plane stopped during the run",
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def tick(self) -> list[int]:
        """Start the runs that are due now; returns the ids of those started."""
        now = self.clock()
        started: list[int] = []
        try:
            self._decide_due(now, started)
        except BaseException:
            for run_id in started:  # their rows were not committed: they never start
                self.p.cron_slots.release_run(run_id)
            raise
        for run_id in started:
            self._start(run_id)
        return started

    def _decide_due(self, now: datetime, started: list[int]) -> None:
        naive_now = now.astimezone(UTC).replace(tzinfo=None)
        with self.p.db.session() as session:
            due = list(
                session.scalars(
                    select(CronJob).where(CronJob.next_run_at <= naive_now).order_by(CronJob.id)
                )
            )
            for job in due:
                due_at = job.next_run_at
                decision = decide(
                    due_at.replace(tzinfo=UTC),
                    now,
                    Overlap(job.overlap),
                    cron.running_count(session, job.id),
                )
                job.next_run_at = cron.next_run(job, naive_now)
                if decision == Decision.MISSED:
                    log.info("cron job %s: its time %s passed, not replayed", job.name, due_at)
                    continue
                if decision == Decision.WAIT:  # a clock that went back: nothing is due
                    continue
                app = session.get(App, job.app_id)
                reason = ""
                if decision == Decision.SKIP:
                    reason = "skipped: the previous run still runs (overlap: skip)"
                elif app is None or app.current_release_id is None:
                    reason = "skipped: the app has no release to run in"
                elif why := self.p.cron_slots.acquire(app.id, app.name):
                    reason = f"skipped: {why}"
                if reason:
                    run = cron.begin_run(
                        session, job, trigger="schedule", due_at=due_at, status=cron.SKIPPED
                    )
                    run.reason = reason
                    cron.prune_runs(session, job.id, self.p.settings.cron_runs_kept)
                else:
                    run = cron.begin_run(session, job, trigger="schedule", due_at=due_at)
                    self.p.cron_slots.bind(run.id, job.app_id)
                    started.append(run.id)

    def admit(self, session: Session, app: App) -> None:
        why = self.p.cron_slots.acquire(app.id, app.name)
        if why:
            raise TooManyRequests(f"{why}: try again once one ended", retry_after=10)

    def prepare_manual(self, session: Session, run: CronRun) -> None:
        self.p.cron_slots.bind(run.id, run.app_id)

    def abandon(self, app_id: int, run_id: int | None) -> None:
        if run_id is None or not self.p.cron_slots.release_run(run_id):
            self.p.cron_slots.release(app_id)

    def start_manual(self, run_id: int) -> None:
        self._start(run_id)


class CronScheduler:
    """The loop: one pass of the backend's `CronRunner` every `XAE_CRON_TICK` seconds."""

    def __init__(
        self,
        p: Platform,
        *,
        clock: Callable[[], datetime] = _utc_now,
        start: cron.Starter | None = None,
        runner: CronRunner | None = None,
    ) -> None:
        self.p = p
        self.runner = runner or runner_for(p, clock=clock, start=start)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def recover(self) -> int:
        return self.runner.recover()

    def tick(self) -> list[int]:
        return self.runner.tick()

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="xae-cron", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.p.settings.cron_tick):
            try:
                self.tick()
            except Exception:
                # The store, the cluster or a clock hiccup: log it and look again next tick.
                log.exception("the cron scheduler's pass failed")

"""How an app's cron runs get started: one small interface, two strategies, picked by backend.

- `ScheduledCronRunner` (`xae.control.cronscheduler`), for docker, where there is no cluster:
  xae's own scheduler decides each job's due times and starts each run as a one-off
  container, at most `XAE_CRON_MAX_RUNNING_PER_APP` of one app at once (`CronSlots`).
- `ClusterCronRunner` (`xae.control.cronjobs`), for an orchestrator that schedules jobs itself
  (Kubernetes): each job is a CronJob the cluster runs; xae keeps the CronJobs in step with the
  store and records each Job they start as a run.

Both keep the history in the same table (`CronRun`), so `xae cron:runs` and `xae cron:logs`
read the same on both. This module holds the interface and the slots only: it must not import
the strategies (they import it).
"""

from __future__ import annotations

import threading
from typing import Protocol

from sqlalchemy.orm import Session

from xae.store.models import App, CronRun


class CronRunner(Protocol):
    """The part of cron that depends on where runs execute."""

    def recover(self) -> int:
        """At the control plane's start: settle the runs a previous one left `running`;
        returns how many were settled."""
        ...

    def tick(self) -> list[int]:
        """One pass of the scheduler loop; returns the ids of the runs it started or
        recorded as started."""
        ...

    def admit(self, session: Session, app: App) -> None:
        """Let a run of `app` started by hand (`xae cron:run`) begin, or raise
        `TooManyRequests` saying which limit it hit. A run admitted is then either started
        (`start_manual`) or given back (`abandon`)."""

    def prepare_manual(self, session: Session, run: CronRun) -> None:
        """Fill in what the strategy needs on the new run's row, before it is committed."""

    def abandon(self, app_id: int, run_id: int | None) -> None:
        """Give back what `admit` took when the run will not start after all."""

    def start_manual(self, run_id: int) -> None:
        """Start the committed run `run_id`; returns at once."""


class CronSlots:
    """How many cron runs go on at once: at most `per_app` of one app (so one app with many
    jobs never starves the others) and at most `total` on the platform (a safety net)."""

    def __init__(self, per_app: int, total: int) -> None:
        self.per_app = per_app
        self.total = total
        self._lock = threading.Lock()
        self._by_app: dict[int, int] = {}
        self._runs: dict[int, int] = {}

    def acquire(self, app_id: int, app_name: str) -> str:
        """Take a slot for a run of `app_id`: "" when taken, else why not (the limit hit)."""
        with self._lock:
            if self._by_app.get(app_id, 0) >= self.per_app:
                return (
                    f"{self.per_app} cron run(s) of {app_name} were going "
                    "(XAE_CRON_MAX_RUNNING_PER_APP)"
                )
            if sum(self._by_app.values()) >= self.total:
                return f"{self.total} cron runs were going on the platform (XAE_CRON_MAX_RUNNING)"
            self._by_app[app_id] = self._by_app.get(app_id, 0) + 1
            return ""

    def bind(self, run_id: int, app_id: int) -> None:
        """The slot taken for `app_id` is run `run_id`'s: `release_run` gives it back."""
        with self._lock:
            self._runs[run_id] = app_id

    def release(self, app_id: int) -> None:
        with self._lock:
            left = self._by_app.get(app_id, 0) - 1
            if left > 0:
                self._by_app[app_id] = left
            else:
                self._by_app.pop(app_id, None)

    def release_run(self, run_id: int) -> bool:
        """Give back run `run_id`'s slot (once); False when it had none bound."""
        with self._lock:
            app_id = self._runs.pop(run_id, None)
        if app_id is not None:
            self.release(app_id)
        return app_id is not None

    def going(self, app_id: int | None = None) -> int:
        with self._lock:
            return sum(self._by_app.values()) if app_id is None else self._by_app.get(app_id, 0)

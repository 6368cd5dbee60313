"""The background reconciler: every few seconds, make every app match its desired state.

This is what keeps xae correct after a crash: a killed control plane restarts, lists the
containers it labelled, probes them, rebuilds the routing table and carries on. It also heals:
dead instances are replaced, out-of-date ones drained, and containers of apps that no longer
exist are removed.

Apps are isolated from each other: each app's pass is its own task (`AppScheduler`), so one
app's failure or slowness never delays another's healing. Any exception of a pass is caught for
that app, logged, and kept as the app's failure until a pass of it succeeds again; `xae status`
shows the failing apps. A failure message is an `XaeError`'s message (written to be shown) or
only the exception's type: never its text, which may carry config values.

A failing app is not retried on every tick: it backs off (`xae.control.backoff`), longer after
each failure in a row and longer still after a permanent error, until a pass succeeds or its
desired state changes. `xae status` shows when its next pass runs.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import select

from xae.control.backoff import UNKNOWN, RetrySchedule, fingerprint
from xae.control.platform import Platform
from xae.control.scheduler import AppScheduler
from xae.domain.backoff import Backoff
from xae.errors import NotFound, XaeError, is_temporary
from xae.store.models import App

log = logging.getLogger("xae.reconciler")
ERROR_MAX = 300


@dataclass(frozen=True)
class AppFailure:
    """Why the last pass of an app failed, since when its passes fail, how many did, and when
    the background reconciler tries it again."""

    error: str
    since: datetime
    passes: int
    temporary: bool = True
    """Whether the last error may go away by itself (`xae.errors.is_temporary`)."""
    retry_at: datetime | None = None
    """When the next background pass may run, unless the app changes first."""


def describe(error: Exception) -> str:
    """What `xae status` may show of `error`: no secrets, so no text of unknown exceptions."""
    if isinstance(error, XaeError):
        # Control characters (e.g. from a value stored before its gate existed) never reach a
        # log line or the status as they are.
        text = error.message[:ERROR_MAX]
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return f"internal error ({type(error).__name__}); the control plane's log has the details"


class Reconciler:
    def __init__(
        self,
        platform: Platform,
        *,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.platform = platform
        settings = platform.settings
        first = settings.reconcile_backoff
        self.retries = RetrySchedule(
            temporary=Backoff(first, max(first, settings.reconcile_backoff_max)),
            permanent=Backoff(first, max(first, settings.reconcile_backoff_permanent_max)),
            clock=clock,
            rand=rand,
        )
        self.scheduler = AppScheduler(
            workers=settings.reconcile_workers,
            max_workers=max(settings.reconcile_workers, settings.reconcile_max_workers),
            deadline=settings.reconcile_app_deadline,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures: dict[str, AppFailure] = {}
        self._failures_lock = threading.Lock()
        self.loop_error: str | None = None
        """Why the last tick itself failed (e.g. the store could not be read), if it did."""
        self.passes = 0

    # -- one app ---------------------------------------------------------------------------

    def reconcile_app(self, name: str) -> None:
        """One pass of `name`; never raises. What the pass started is removed on failure by
        the strategy; here the failure is logged, kept for `xae status` and backed off."""
        wanted: Hashable = UNKNOWN
        try:
            # Read before the pass: if the app changes meanwhile, the next tick sees a changed
            # fingerprint and retries at once (never the other way round).
            wanted = self._fingerprint(name)
            ran = self.platform.converge_app(name, wait=False)
        except NotFound:
            self._forget(name)  # destroyed while this pass waited: nothing to heal
            return
        except Exception as e:
            self._failed(name, e, wanted)
            return
        if ran:
            self._recovered(name)

    def _fingerprint(self, name: str) -> Hashable:
        """The app's desired state as far as retrying goes (`xae.control.backoff.fingerprint`)."""
        p = self.platform
        with p.db.session() as session:
            app = session.scalar(select(App).where(App.name == name))
            if app is None:
                raise NotFound(f"app {name!r} does not exist")
            return fingerprint(p.plan(session, app))

    def _changed_since_failure(self, name: str) -> Callable[[], Hashable]:
        def read() -> Hashable:
            try:
                return self._fingerprint(name)
            except Exception:
                # Unreadable now (deleted meanwhile, the store failed): keep waiting; the pass
                # reads the same rows when it is due and reports what failed.
                log.debug("reading the desired state of %s failed", name, exc_info=True)
                return UNKNOWN

        return read

    def _failed(self, name: str, error: Exception, wanted: Hashable) -> None:
        message = describe(error)
        retry = self.retries.failed(name, temporary=is_temporary(error), fingerprint=wanted)
        kind = "temporary" if retry.temporary else "permanent"
        if isinstance(error, XaeError):
            log.warning(
                "reconciling %s failed (%s, retrying in %.0f s): %s",
                name,
                kind,
                retry.delay,
                message,
            )
        else:
            log.error(
                "reconciling %s failed (retrying in %.0f s)", name, retry.delay, exc_info=error
            )
        now = datetime.now(UTC)
        retry_at = now + timedelta(seconds=retry.delay)
        with self._failures_lock:
            previous = self._failures.get(name)
            if previous is None:
                self._failures[name] = AppFailure(message, now, 1, retry.temporary, retry_at)
            else:
                self._failures[name] = replace(
                    previous,
                    error=message,
                    passes=previous.passes + 1,
                    temporary=retry.temporary,
                    retry_at=retry_at,
                )

    def _recovered(self, name: str) -> None:
        self.retries.succeeded(name)
        with self._failures_lock:
            if self._failures.pop(name, None) is not None:
                log.info("reconciling %s works again", name)

    def _forget(self, name: str) -> None:
        self.retries.forget(name)
        with self._failures_lock:
            self._failures.pop(name, None)

    def failures(self) -> dict[str, AppFailure]:
        """The apps whose last pass failed, by name. An app whose desired state changed since
        has no `retry_at`: its next pass runs at once."""
        with self._failures_lock:
            failures = dict(self._failures)
        waiting = self.retries.names()
        return {
            name: f if name in waiting else replace(f, retry_at=None)
            for name, f in failures.items()
        }

    @property
    def last_error(self) -> str | None:
        """Every failing app and its error in one line (for logs and older callers)."""
        parts = [f"{name}: {f.error}" for name, f in sorted(self.failures().items())]
        if self.loop_error:
            parts.insert(0, self.loop_error)
        return "; ".join(parts)[:1000] or None

    # -- every app -------------------------------------------------------------------------

    def tick(self) -> None:
        """Queue a pass of every app, and the removal of what deleted apps left, skipping
        apps whose previous pass still runs and failing apps still backing off."""
        p = self.platform
        with p.db.session() as session:
            names = set(session.scalars(select(App.name)))
        for name in sorted(names):
            if self.retries.due(name, self._changed_since_failure(name)):
                self.scheduler.submit(name, partial(self.reconcile_app, name))
        for app in sorted(p.strategy.known_apps() - names):
            self.scheduler.submit(app, partial(self._remove_orphan, app))
        for gone in self.retries.names() - names:
            self.retries.forget(gone)
        with self._failures_lock:
            for gone in set(self._failures) - names:
                del self._failures[gone]
        self.scheduler.poke()
        self.passes += 1

    def run_once(self, timeout: float = 600.0) -> None:
        """One whole pass: queue every app (but those backing off) and wait until every queued
        pass has ended."""
        self.tick()
        if not self.scheduler.wait_idle(timeout):
            log.warning("a reconcile pass still runs after %.0f s", timeout)

    def _app_exists(self, name: str) -> bool:
        with self.platform.db.session() as session:
            return session.scalar(select(App.id).where(App.name == name)) is not None

    def _remove_orphan(self, app: str) -> None:
        """Remove the instances and route of `app`, which the store no longer has.

        Existence is checked again under the app's lock, so an app created (and deployed)
        while this pass ran is never mistaken for a deleted one.
        """
        p = self.platform
        lock = p.strategy.lock(app)
        if not lock.acquire(blocking=False):
            return  # busy with a deploy or a destroy: not ours to judge this pass
        try:
            if not self._app_exists(app):
                log.info("removing instances and route of deleted app %s", app)
                p.strategy.remove_app(app)
        except Exception:
            log.exception("removing what deleted app %s left failed; the next pass retries", app)
        finally:
            lock.release()

    # -- the loop --------------------------------------------------------------------------

    def warm_start(self) -> None:
        """Seed the routing table from instances that already serve, before the first apply."""
        p = self.platform
        with p.db.session() as session:
            plans = {app.name: p.plan(session, app) for app in session.scalars(select(App))}
        p.strategy.warm_start(plans)

    def start(self) -> None:
        self.platform.strategy.start()
        self._thread = threading.Thread(target=self._loop, name="xae-reconciler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.scheduler.stop(timeout=10)
        self.platform.strategy.stop()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
                self.loop_error = None
            except Exception as e:  # keep the loop alive; the error is reported by `status`
                self.loop_error = f"a reconcile pass could not start: {describe(e)}"
                log.exception("a reconcile tick failed")
            self._stop.wait(self.platform.settings.reconcile_interval)

"""The background reconciler: every few seconds, make every app match its desired state.

This is what keeps xae correct after a crash: a killed control plane restarts, lists the
containers it labelled, probes them, rebuilds the routing table and carries on. It also heals:
dead instances are replaced, out-of-date ones drained, and containers of apps that no longer
exist are removed. Failures of one app are logged and never stop the loop for the others.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select

from xae.control.platform import Platform
from xae.errors import XaeError
from xae.store.models import App

log = logging.getLogger("xae.reconciler")


class Reconciler:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.passes = 0

    def run_once(self) -> None:
        p = self.platform
        with p.db.session() as session:
            names = list(session.scalars(select(App.name)))
        errors: list[str] = []
        for name in names:
            if self._stop.is_set():
                return
            try:
                p.converge_app(name, wait=False)
            except XaeError as e:
                errors.append(f"{name}: {e.message}")
                log.warning("reconciling %s failed: %s", name, e.message)
        self._remove_orphans()
        self.last_error = "; ".join(errors)[:1000] or None
        self.passes += 1

    def _app_exists(self, name: str) -> bool:
        with self.platform.db.session() as session:
            return session.scalar(select(App.id).where(App.name == name)) is not None

    def _remove_orphans(self) -> None:
        """Remove instances and routes of apps the store no longer has.

        Existence is checked again under each app's lock, so an app created (and deployed)
        while this pass ran is never mistaken for a deleted one.
        """
        p = self.platform
        candidates = p.converger.known_apps()
        for app in candidates:
            lock = p.converger.lock(app)
            if not lock.acquire(blocking=False):
                continue  # busy with a deploy or a destroy: not ours to judge this pass
            try:
                if not self._app_exists(app):
                    log.info("removing instances and route of deleted app %s", app)
                    p.converger.remove_app(app)
            finally:
                lock.release()

    def warm_start(self) -> None:
        """Seed the routing table from instances that already serve, before the first apply."""
        p = self.platform
        with p.db.session() as session:
            plans = {app.name: p.plan(session, app) for app in session.scalars(select(App))}
        p.converger.warm_start(plans)

    def start(self) -> None:
        self.platform.converger.start()
        self._thread = threading.Thread(target=self._loop, name="xae-reconciler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.platform.converger.stop()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as e:  # keep the loop alive; the error is reported by `status`
                self.last_error = f"{type(e).__name__}: {e}"[:1000]
                log.exception("reconcile pass failed")
            self._stop.wait(self.platform.settings.reconcile_interval)

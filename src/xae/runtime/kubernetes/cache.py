"""What the cluster runs for this plane, kept current by watches (a small informer).

Three watches, one per kind xae reads often: Deployments (is an app in sync?), Pods (instances,
rollout progress, failure reasons) and EndpointSlices (where the router sends traffic). Each
lists first, replacing its part of the cache, then watches from there; when a watch breaks it
lists again, so a missed delete never lingers. A watch that keeps breaking (the API server is
down) waits longer before each new list, up to `RECONNECT.cap`, and starts over from the
shortest wait once a list succeeds. Readers wait on one condition that every event notifies,
so a rollout wakes up on the event that completes it instead of polling.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from lightkube import Client, operators
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod
from lightkube.resources.discovery_v1 import EndpointSlice

from xae.domain.backoff import Backoff
from xae.runtime.base import RoutesChanged
from xae.runtime.kubernetes.decoding import warm_up
from xae.runtime.kubernetes.manifests import APP, ONEOFF, PLANE, RELEASE

log = logging.getLogger("xae.runtime.kubernetes")
Key = tuple[str, str]
WATCH_TIMEOUT = 290
"""Seconds before the API server ends a watch; it is then resumed from the last version."""
FLUSH_DELAY = 0.05
"""Endpoint changes within this window reach the router as one swap."""
RECONNECT = Backoff(first=1.0, cap=30.0)
"""How long a broken watch waits before listing again: 1 s, doubling per failure in a row."""


def _key(obj: Any) -> Key:
    return (obj.metadata.namespace or "", obj.metadata.name or "")


def ready_addresses(slices: Iterable[EndpointSlice]) -> list[str]:
    """`ip:port` of every ready endpoint (terminating ones are not ready)."""
    out: set[str] = set()
    for s in slices:
        ports = [p.port for p in s.ports or [] if p.port]
        for endpoint in s.endpoints or []:
            conditions = endpoint.conditions
            if conditions is not None and conditions.ready is False:
                continue
            out.update(f"{a}:{port}" for a in endpoint.addresses for port in ports)
    return sorted(out)


class ClusterCache:
    def __init__(
        self,
        client: Client,
        plane: str,
        *,
        reconnect: Backoff = RECONNECT,
        rand: Callable[[], float] = random.random,
        pause: Callable[[float], object] | None = None,
    ) -> None:
        self.client = client
        self.plane = plane
        self.reconnect = reconnect
        self._rand = rand
        self.changed = threading.Condition()
        self.deployments: dict[Key, Deployment] = {}
        self.pods: dict[Key, Pod] = {}
        self.slices: dict[Key, EndpointSlice] = {}
        self._synced = {kind: threading.Event() for kind in ("deployments", "pods", "slices")}
        self._stop = threading.Event()
        self._on_routes: RoutesChanged | None = None
        self._dirty_apps: set[str] = set()
        self._flush = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pause = pause or self._stop.wait
        """Waits between reconnects; ends early when the cache stops (tests pass a recorder)."""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, on_routes: RoutesChanged | None = None) -> None:
        if self._threads:
            return
        self._on_routes = on_routes
        warm_up()  # before the watchers decode in parallel (see `decoding`)
        specs: list[tuple[str, type[Any], dict[Key, Any]]] = [
            ("deployments", Deployment, self.deployments),
            ("pods", Pod, self.pods),
            ("slices", EndpointSlice, self.slices),
        ]
        for kind, res, store in specs:
            thread = threading.Thread(
                target=self._run, args=(kind, res, store), name=f"xae-k8s-{kind}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        flusher = threading.Thread(target=self._flusher, name="xae-k8s-routes", daemon=True)
        flusher.start()
        self._threads.append(flusher)

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(e.wait(max(0.0, deadline - time.monotonic())) for e in self._synced.values())

    def stop(self) -> None:
        # Watch threads are daemons blocked in a read; they end with the process.
        self._stop.set()
        self._flush.set()

    # -- reads -----------------------------------------------------------------------------

    def app_deployments(self, app: str) -> list[Deployment]:
        with self.changed:
            return [d for d in self.deployments.values() if _app_of(d) == app]

    def app_pods(self, app: str | None = None) -> list[Pod]:
        with self.changed:
            return [p for p in self.pods.values() if app is None or _app_of(p) == app]

    def apps(self) -> set[str]:
        with self.changed:
            objects = [*self.deployments.values(), *self.pods.values()]
            return {a for a in map(_app_of, objects) if a}

    def routes(self, apps: set[str] | None = None) -> dict[str, list[str]]:
        with self.changed:
            by_app: dict[str, list[EndpointSlice]] = {}
            for s in self.slices.values():
                app = _app_of(s)
                if app and (apps is None or app in apps):
                    by_app.setdefault(split_key(app, s), []).append(s)
        result = {app: ready_addresses(slices) for app, slices in by_app.items()}
        for app in apps or ():
            result.setdefault(app, [])
        return result

    # -- watching --------------------------------------------------------------------------

    def _run(self, kind: str, res: type[Any], store: dict[Key, Any]) -> None:
        # One-off pods (release phase, cron runs) are not instances: they stay out of the cache.
        labels: dict[str, Any] = {PLANE: self.plane, ONEOFF: operators.not_exists()}
        failures = 0
        while not self._stop.is_set():
            try:
                fresh = {_key(o): o for o in self.client.list(res, namespace="*", labels=labels)}
                failures = 0
                with self.changed:
                    touched = {_app_of(o) for o in [*store.values(), *fresh.values()]}
                    store.clear()
                    store.update(fresh)
                    self.changed.notify_all()
                self._synced[kind].set()
                if kind == "slices":
                    self._mark_dirty(touched)
                for event, obj in self.client.watch(
                    res, namespace="*", labels=labels, server_timeout=WATCH_TIMEOUT
                ):
                    if self._stop.is_set():
                        return
                    with self.changed:
                        if event == "DELETED":
                            store.pop(_key(obj), None)
                        else:
                            store[_key(obj)] = obj
                        self.changed.notify_all()
                    if kind == "slices":
                        self._mark_dirty({_app_of(obj)})
            except Exception as e:  # any failure: list again after a growing pause
                if self._stop.is_set():
                    return
                failures += 1
                delay = self.reconnect.delay(failures, self._rand())
                log.warning("watch of %s broke (%s); listing again in %.1f s", kind, e, delay)
                self._pause(delay)

    def _mark_dirty(self, apps: set[str | None]) -> None:
        with self.changed:
            self._dirty_apps.update(a for a in apps if a)
        self._flush.set()

    def _flusher(self) -> None:
        while not self._stop.is_set():
            self._flush.wait()
            if self._stop.is_set():
                return
            time.sleep(FLUSH_DELAY)
            self._flush.clear()
            with self.changed:
                apps, self._dirty_apps = self._dirty_apps, set()
            if apps and self._on_routes is not None:
                self._deliver(apps)

    def _deliver(self, apps: set[str]) -> None:
        assert self._on_routes is not None
        try:
            self._on_routes(self.routes(apps))
        except Exception:
            log.exception("delivering endpoint changes failed")


def split_key(app: str, s: EndpointSlice) -> str:
    """`app` for the slices of the app's web Service; `app/v<N>` for those of a split
    release's Service (`xae.runtime.base.RoutesChanged`)."""
    release = (s.metadata.labels or {}).get(RELEASE) if s.metadata else None
    return f"{app}/v{release}" if release else app


def _app_of(obj: Any) -> str | None:
    labels: dict[str, str] = obj.metadata.labels or {}
    return labels.get(APP)

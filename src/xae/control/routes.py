"""The routing table the router serves: every app's host names and its healthy web instances.

The reconciler changes one app's entry at a time; each change re-applies the whole table to the
router, which swaps its config atomically, so a request never sees half a change.
"""

from __future__ import annotations

import threading

from xae.router.base import Route, Router


class RouteTable:
    def __init__(self, router: Router, base_domain: str) -> None:
        self._router = router
        self._base_domain = base_domain
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()

    def host_for(self, app: str) -> str:
        return f"{app}.{self._base_domain}"

    def set(self, app: str, upstreams: list[str]) -> None:
        """Route `app` to exactly `upstreams` and return once the router serves that."""
        route = Route(app=app, hosts=[self.host_for(app)], upstreams=sorted(upstreams))
        with self._lock:
            previous = self._routes.get(app)
            if previous == route:
                return
            self._routes[app] = route
            try:
                self._router.apply(list(self._routes.values()))
            except Exception:
                # The router still serves the old table: keep ours matching it.
                if previous is None:
                    del self._routes[app]
                else:
                    self._routes[app] = previous
                raise

    def set_many(self, changes: dict[str, list[str]], *, known_only: bool = False) -> None:
        """Apply several apps' upstreams in one router swap (a watch delivers them in bursts).

        With `known_only`, apps the table does not have yet are added only when they have
        upstreams, so a late event never resurrects the route of a destroyed app."""
        with self._lock:
            previous = dict(self._routes)
            for app, upstreams in changes.items():
                if known_only and app not in self._routes and not upstreams:
                    continue
                self._routes[app] = Route(
                    app=app, hosts=[self.host_for(app)], upstreams=sorted(upstreams)
                )
            if self._routes == previous:
                return
            try:
                self._router.apply(list(self._routes.values()))
            except Exception:
                self._routes = previous
                raise

    def seed(self, app: str, upstreams: list[str]) -> None:
        """Record a route without applying it: used at start-up so the first apply already
        carries every app that was serving before xae restarted."""
        with self._lock:
            self._routes[app] = Route(
                app=app, hosts=[self.host_for(app)], upstreams=sorted(upstreams)
            )

    def drop(self, app: str) -> None:
        with self._lock:
            previous = self._routes.pop(app, None)
            if previous is None:
                return
            try:
                self._router.apply(list(self._routes.values()))
            except Exception:
                self._routes[app] = previous
                raise

    def upstreams(self, app: str) -> list[str]:
        with self._lock:
            route = self._routes.get(app)
            return list(route.upstreams) if route else []

    def apps(self) -> list[str]:
        with self._lock:
            return list(self._routes)

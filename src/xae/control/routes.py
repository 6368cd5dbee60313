"""The routing table the router serves: every app's host names and its healthy web instances.

The reconciler changes one app's entry at a time; each change is sent to the router as a
delta (`Router.update`: the changed entries, the removed apps), which applies it atomically per
app without a reload, so a request never sees half a change. The first change after start-up
applies the whole table instead (`Router.apply`), so the router drops whatever it held for apps
that are gone and serves the seeded routes of every app that was serving before xae restarted.

An app's entry joins two sources: its healthy web instances (from the runtime, pushed in by the
reconciler) and what the store says about its routing (custom domains, per-app settings), read
through an injected `RoutingLookup`, so this module stays free of the database. A change on the
store's side calls `refresh(app)`.

While an app's traffic is split between releases (`xae.control.splits`) its entry carries one
`Backend` per release (`set(app, upstreams, Split(...))`); its `upstreams` are then every
backend's instances together, which is what "does the app serve?" questions look at.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from xae.router.base import Backend, Route, Router


@dataclass(frozen=True)
class Split:
    """An app's traffic split as the router gets it: one backend per release, by weight."""

    backends: tuple[Backend, ...]
    sticky: bool = False


@dataclass(frozen=True)
class AppRouting:
    """The store's side of an app's route."""

    domains: list[str] = field(default_factory=list)
    """Custom domains, served beside `<app>.<base domain>`."""
    redirect_https: bool = False
    max_body: int | None = None
    read_timeout: int | None = None
    wake: bool = False


RoutingLookup = Callable[[str], AppRouting]
"""The store's routing of an app by name; an unknown app gets the defaults."""


def release_name(releases: Iterable[int]) -> str:
    """The release web instances run, as the access log names it (`v8`); "" when they run
    several (mid-rollout: which one a request reached is not known here) or none."""
    distinct = set(releases)
    return f"v{distinct.pop()}" if len(distinct) == 1 else ""


def _defaults(app: str) -> AppRouting:
    return AppRouting()


class RouteTable:
    def __init__(self, router: Router, base_domain: str, lookup: RoutingLookup = _defaults) -> None:
        self._router = router
        self._base_domain = base_domain
        self._lookup = lookup
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._synced = False
        """Whether the router has been given the whole table since this table was made."""

    def _send(self, changed: list[Route], removed: list[str]) -> None:
        """Hand a change to the router (the whole table the first time); under `_lock`."""
        if not self._synced:
            self._router.apply(list(self._routes.values()))
            self._synced = True
        else:
            self._router.update(changed, removed)

    def host_for(self, app: str) -> str:
        return f"{app}.{self._base_domain}"

    def _route(
        self, app: str, upstreams: list[str], split: Split | None = None, release: str = ""
    ) -> Route:
        routing = self._lookup(app)
        backends = (
            []
            if split is None
            else [Backend(b.release, b.weight, sorted(b.upstreams)) for b in split.backends]
        )
        if backends:
            upstreams = [u for b in backends for u in b.upstreams]
        return Route(
            app=app,
            hosts=[self.host_for(app), *routing.domains],
            upstreams=sorted(set(upstreams)),
            backends=backends,
            sticky=bool(backends) and split is not None and split.sticky,
            release="" if backends else release,
            wake=routing.wake,
            redirect_https=routing.redirect_https,
            max_body=routing.max_body,
            read_timeout=routing.read_timeout,
        )

    def refresh(self, app: str) -> None:
        """Re-read `app`'s routing from the store and serve it (its instances unchanged)."""
        with self._lock:
            route = self._routes.get(app)
            if route is None:
                return
        self.set(app, list(route.upstreams), _split_of(route), release=route.release)

    def set(
        self, app: str, upstreams: list[str], split: Split | None = None, *, release: str = ""
    ) -> None:
        """Route `app` to exactly `upstreams` (or, with `split`, by weight to its backends)
        and return once the router serves that.

        `release` names what `upstreams` run (`v8`) for the router's access log; "" when
        they do not all run one release (mid-rollout) or nobody knows (a split's backends
        name their own)."""
        route = self._route(app, upstreams, split, release)
        with self._lock:
            previous = self._routes.get(app)
            if previous == route:
                return
            self._routes[app] = route
            try:
                self._send([route], [])
            except Exception:
                # The router still serves the old table: keep ours matching it.
                if previous is None:
                    del self._routes[app]
                else:
                    self._routes[app] = previous
                raise

    def set_many(
        self,
        changes: dict[str, list[str]],
        *,
        known_only: bool = False,
        splits: dict[str, Split] | None = None,
    ) -> None:
        """Apply several apps' upstreams in one router swap (a watch delivers them in bursts);
        an app in `splits` is routed by its split instead.

        With `known_only`, apps the table does not have yet are added only when they have
        upstreams, so a late event never resurrects the route of a destroyed app."""
        splits = splits or {}
        with self._lock:
            previous = dict(self._routes)
            changed: list[Route] = []
            for app, upstreams in changes.items():
                split = splits.get(app)
                if known_only and app not in self._routes and not upstreams and split is None:
                    continue
                route = self._route(app, upstreams, split)
                if previous.get(app) != route:
                    changed.append(route)
                self._routes[app] = route
            if not changed:
                return
            try:
                self._send(changed, [])
            except Exception:
                self._routes = previous
                raise

    def seed(
        self, app: str, upstreams: list[str], split: Split | None = None, *, release: str = ""
    ) -> None:
        """Record a route without applying it: used at start-up so the first apply already
        carries every app that was serving before xae restarted."""
        with self._lock:
            self._routes[app] = self._route(app, upstreams, split, release)

    def drop(self, app: str) -> None:
        with self._lock:
            previous = self._routes.pop(app, None)
            if previous is None:
                return
            try:
                self._send([], [app])
            except Exception:
                self._routes[app] = previous
                raise

    def upstreams(self, app: str) -> list[str]:
        with self._lock:
            route = self._routes.get(app)
            return list(route.upstreams) if route else []

    def split(self, app: str) -> Split | None:
        """The split `app` is served with now, if any."""
        with self._lock:
            route = self._routes.get(app)
            return _split_of(route) if route else None

    def apps(self) -> list[str]:
        with self._lock:
            return list(self._routes)


def _split_of(route: Route) -> Split | None:
    return Split(tuple(route.backends), route.sticky) if route.backends else None

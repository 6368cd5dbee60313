"""The running control plane's parts, wired once: store, backend, router, strategy, clients.

Two rollout strategies, one plan: the backend decides the strategy. An instance-level `Runtime`
(docker) gets the `InstanceStrategy`, xae's own health-gated rollout; an `Orchestrator`
(kubernetes) gets the `ClusterStrategy`, which hands it whole plans and routes to whatever the
cluster reports ready.

Services (`xae.control.apps`, `.releases`, `.formation`, `xae.codecenter.deploy`) receive a
`Platform` and never build their own clients: the backend, the health `Prober` and the
`DockerConnection` the builds use are made once where the process starts (`xae.api.server`, or
a test's fakes) and passed in here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session

from xae.config import Settings
from xae.control.cluster import ClusterStrategy
from xae.control.configvars import open_config
from xae.control.cronrunner import CronRunner, CronSlots
from xae.control.domains import routing_lookup
from xae.control.health import HealthTracker, Prober
from xae.control.instances import InstanceStrategy
from xae.control.limits import Limits, limits_for
from xae.control.localca import LocalCA
from xae.control.plan import plan_app
from xae.control.routes import RouteTable
from xae.control.splits import plan_split
from xae.control.strategy import Strategy
from xae.docker_client import DockerConnection
from xae.domain.gc import NoReclaimer, Reclaimer
from xae.errors import NotFound
from xae.router.acme import ChallengeBoard
from xae.router.base import Router
from xae.runtime.base import AppPlan, Orchestrator, Progress, Runtime
from xae.store.db import Database
from xae.store.models import App, Build, Formation, Release
from xae.store.sealed import Vault

log = logging.getLogger("xae.control")


def _quiet(_: str) -> None:
    return None


def _no_change() -> None:
    return None


class Platform:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        backend: Runtime | Orchestrator,
        router: Router,
        *,
        prober: Prober,
        docker: DockerConnection,
        vault: Vault,
    ) -> None:
        self.settings = settings
        self.db = db
        self.backend = backend
        self.router = router
        self.prober = prober
        self.docker = docker
        """The Docker engine the Code Center builds on (on either backend)."""
        self.vault = vault
        """Seals and opens config vars (`xae.control.configvars`)."""
        self.reclaimer: Reclaimer = NoReclaimer()
        """Removes old images and leftovers on the engine (`xae.control.gc`); the server sets
        the Docker one (`xae.builder.reclaim`)."""
        self.routes = RouteTable(
            router, settings.base_domain, routing_lookup(db, settings.base_domain)
        )
        self.health = HealthTracker()
        self.limits: Limits = limits_for(settings)
        self.strategy: Strategy
        if isinstance(backend, Orchestrator):
            self.strategy = ClusterStrategy(backend, self.routes)
        else:
            self.strategy = InstanceStrategy(backend, self.routes, self.health, prober)
        self.local_ca = LocalCA(settings.state_dir, settings.base_domain)
        """Issues `*.<base domain>` (`xae.control.localca`); made at server start."""
        self.on_certificates_changed: Callable[[], None] = _no_change
        self.cron_slots = CronSlots(settings.cron_max_running_per_app, settings.cron_max_running)
        """One per cron run going on (`xae.control.cron`, on docker): at most
        `cron_max_running_per_app` per app and `cron_max_running` in all."""
        self.cron_runner: CronRunner | None = None
        """How cron runs start on this backend (`xae.control.cronrunner`); the server sets it
        (`xae.control.cronscheduler.runner_for`)."""
        self.start_cron_run: Callable[[int], None] | None = None
        """How a cron run starts (`xae.control.cron.Starter`); None: in a thread of its own.
        Unit tests run them in the caller's thread instead."""
        self.challenges = ChallengeBoard()
        """HTTP-01 answers for orders in flight (`xae.control.acme`)."""
        """Called after a certificate is added or removed (`xae.control.certificates`): the
        router's side sets it to re-read `served_certificates`."""

    def url_for(self, app: str) -> str:
        port = "" if self.settings.router_port == 80 else f":{self.settings.router_port}"
        return f"http://{self.routes.host_for(app)}{port}/"

    def plan(self, session: Session, app: App, release: Release | None = None) -> AppPlan | None:
        """The plan for `app` at `release` (default: its current release); None if undeployed."""
        release = release or app.current_release
        if release is None or release.build_id is None:
            return None
        build = session.get(Build, release.build_id)
        if build is None or not build.image:
            return None
        formations = list(session.scalars(select(Formation).where(Formation.app_id == app.id)))
        config = open_config(self.vault, release)
        plan = plan_app(app, release, build, formations, self.settings, config)
        if release.id != app.current_release_id:
            # A rollout of a new release ends the split (`xae.control.splits`): it runs alone.
            return plan
        return plan_split(session, self, app, plan)

    def converge_app(
        self,
        name: str,
        progress: Progress = _quiet,
        release_id: int | None = None,
        on_success: Callable[[Session, App], None] | None = None,
        wait: bool = True,
    ) -> bool:
        """Converge `name` to its current release (or to `release_id`, for a rollout).

        The plan is read under the app's lock so concurrent deploys, scales and the background
        reconcile each see the state the previous one left. `on_success` runs in the same
        locked section, in its own transaction, once the world matches the plan. With
        `wait=False` an app that is busy (a deploy in progress) is skipped: then this returns
        False.
        """
        lock = self.strategy.lock(name)
        if not lock.acquire(blocking=wait):
            return False
        try:
            self.converge_held(name, progress, release_id, on_success)
        finally:
            lock.release()
        return True

    @contextmanager
    def change(self, name: str) -> Iterator[None]:
        """Hold `name`'s lock for one change of its desired state, from reading it to the end
        of its rollout (use `converge_held` inside), so concurrent changes run one after the
        other and each computes from the state the previous one left: no lost update, no two
        releases with one number. The lock is not reentrant: never call `converge_app` inside.
        """
        with self.strategy.lock(name):
            yield

    def converge_held(
        self,
        name: str,
        progress: Progress = _quiet,
        release_id: int | None = None,
        on_success: Callable[[Session, App], None] | None = None,
        *,
        drain: bool = True,
    ) -> None:
        """`converge_app` for a caller that already holds the app's lock (`change(name)`).
        `drain=False`: return once the plan serves, old instances left for the next pass
        (`Strategy.converge`)."""

        def report(message: str) -> None:
            log.info("%s: %s", name, message)
            progress(message)

        self._converge_locked(name, report, release_id, on_success, drain=drain)

    def _converge_locked(
        self,
        name: str,
        progress: Progress,
        release_id: int | None,
        on_success: Callable[[Session, App], None] | None,
        *,
        drain: bool = True,
    ) -> None:
        with self.db.session() as session:
            app = session.scalar(select(App).where(App.name == name))
            if app is None:
                raise NotFound(f"app {name!r} does not exist")
            release = session.get(Release, release_id) if release_id else None
            plan = self.plan(session, app, release)
        if plan is None:
            self.strategy.clear(name)
        else:
            self.strategy.converge(plan, progress, drain=drain)
        if on_success is not None:
            with self.db.session() as session:
                app = session.scalar(select(App).where(App.name == name))
                if app is not None:
                    on_success(session, app)

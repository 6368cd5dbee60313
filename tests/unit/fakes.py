"""In-memory stand-ins for the runtime and the router, and helpers to wire a `Platform` on them.

The fakes implement the same Protocols as the real backends (`xae.runtime.base.Runtime`,
`xae.router.base.Router`) and write every externally visible action to one shared `events` list,
so a test can check the order a rollout did things in (start new, route, then stop old).
Health checks are the real `Prober` on a fake transport (`FakeHealth`, an `httpx.MockTransport`
that answers for the fake instances): an instance is healthy unless its image is in
`FakeRuntime.unhealthy_images` or it was marked with `FakeRuntime.set_healthy(id, False)`.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from xae.auth.policy import Principal
from xae.auth.tokens import create_user, issue_token
from xae.config import Settings
from xae.control.cron import run_here
from xae.control.cronscheduler import ScheduledCronRunner
from xae.control.formation import ensure_formation
from xae.control.health import Prober, probe_client
from xae.control.platform import Platform
from xae.control.releases import new_release, rollout
from xae.docker_client import DockerConnection
from xae.domain.access import Role
from xae.domain.states import InstanceState
from xae.errors import RuntimeFailure
from xae.router.base import Certificate, Route, RouterStatus
from xae.router.validate import validate_routes, validate_update
from xae.runtime.base import Instance, InstanceSpec, OneOffResult, OneOffSpec, OutputLine
from xae.store.db import Database
from xae.store.models import App, Build, Membership, Team, User
from xae.store.sealed import Vault, key_file

PASSWORD = "correct-horse-battery"
"""The password of the template database's users `alice` and `bob` (each the owner of a team
of their own name) and `root` (admin)."""

PROCESSES = {"web": "python app.py", "worker": "python worker.py"}

Event = tuple[object, ...]


@dataclass
class EventLog:
    """What the fakes did, in order; shared by runtime and router. Thread-safe."""

    items: list[Event] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *event: object) -> None:
        with self._lock:
            self.items.append(tuple(event))

    def kinds(self) -> list[object]:
        return [e[0] for e in self.items]

    def clear(self) -> None:
        with self._lock:
            self.items.clear()


class FakeRuntime:
    """A `Runtime` whose instances are dicts in memory; `start` can be told to fail."""

    name = "fake"

    def __init__(self, events: EventLog | None = None) -> None:
        self.events = events or EventLog()
        self.instances: dict[str, Instance] = {}
        self.specs: dict[str, InstanceSpec] = {}
        self.networks: set[str] = set()
        self.unhealthy_images: set[str] = set()
        self.failing_images: set[str] = set()
        self.log_lines = ["2024-05-01T12:00:00Z Error: address already in use 0.0.0.0:8000"]
        self._healthy_override: dict[str, bool] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.oneoffs: list[OneOffSpec] = []
        """Every one-off run, in order."""
        self.oneoff_script: Callable[[OneOffSpec], tuple[list[str], OneOffResult]] = lambda spec: (
            [f"ran {spec.command}"],
            OneOffResult(exit_code=0),
        )
        """What a one-off prints and how it ends (tests replace it)."""

    # -- Runtime protocol ----------------------------------------------------------------

    def ping(self) -> None:
        return None

    def ensure_network(self, app: str) -> None:
        self.networks.add(app)

    def remove_app(self, app: str) -> None:
        with self._lock:
            for iid in [i.id for i in self.instances.values() if i.app == app]:
                del self.instances[iid]
            self.networks.discard(app)
        self.events.add("remove_app", app)

    def list_instances(self, app: str | None = None) -> list[Instance]:
        with self._lock:
            return [i for i in self.instances.values() if app is None or i.app == app]

    def start(self, spec: InstanceSpec) -> Instance:
        if spec.image in self.failing_images:
            self.events.add("start_failed", spec.app, spec.process)
            raise RuntimeFailure(f"image {spec.image} cannot start: no such image")
        with self._lock:
            n = next(self._ids)
            instance = Instance(
                id=f"id{n}",
                name=f"{spec.app}-{spec.process}-{n}",
                app=spec.app,
                process=spec.process,
                release=spec.release,
                spec_hash=spec.spec_hash,
                state=InstanceState.RUNNING,
                address=f"10.0.0.{n}",
                port=spec.port,
                memory_bytes=spec.memory_bytes,
                cpus=spec.cpus,
            )
            self.instances[instance.id] = instance
            self.specs[instance.id] = spec
        self.events.add("start", instance.name)
        return instance

    def stop(self, instance: Instance, grace: float) -> None:
        with self._lock:
            self.instances.pop(instance.id, None)
        self.events.add("stop", instance.name, grace)

    def logs(self, instance: Instance, *, tail: int = 100, follow: bool = False) -> Iterator[str]:
        return iter(self.log_lines[-tail:])

    def prune_oneoffs(self) -> int:
        return 0

    def run_oneoff(self, spec: OneOffSpec, on_line: OutputLine) -> OneOffResult:
        with self._lock:
            self.oneoffs.append(spec)
        self.events.add("oneoff", spec.kind, spec.name)
        lines, result = self.oneoff_script(spec)
        for line in lines:
            on_line(line)
        self.events.add("oneoff_done", spec.kind, spec.name)
        return result

    # -- test controls -------------------------------------------------------------------

    def kill(self, instance_id: str, state: InstanceState = InstanceState.EXITED) -> None:
        """The container died on its own (crash, OOM kill)."""
        with self._lock:
            self.instances[instance_id] = replace(self.instances[instance_id], state=state)

    def set_healthy(self, instance_id: str, healthy: bool) -> None:
        self._healthy_override[instance_id] = healthy

    def healthy(self, instance: Instance) -> bool:
        if instance.id in self._healthy_override:
            return self._healthy_override[instance.id]
        spec = self.specs.get(instance.id)
        return spec is not None and spec.image not in self.unhealthy_images

    def spec_of(self, instance: Instance) -> InstanceSpec:
        return self.specs[instance.id]

    def of(self, app: str, process: str | None = None) -> list[Instance]:
        """The instances of `app` (and `process`), sorted by name."""
        return sorted(
            (i for i in self.list_instances(app) if process in (None, i.process)),
            key=lambda i: int(i.id[2:]),
        )


class FakeRouter:
    """A `Router` that records every applied route table, after checking it with the same gate
    as the nginx router (`validate_routes`), so a table nginx would refuse fails here too."""

    def __init__(self, events: EventLog | None = None) -> None:
        self.events = events or EventLog()
        self.applied: list[list[Route]] = []
        """The full table after each change (an `apply` or an `update`)."""
        self.updates: list[tuple[list[Route], list[str]]] = []
        self.certificates: list[Certificate] = []
        self.wake: Callable[[str], None] | None = None
        self.running = False

    def start(self) -> None:
        self.running = True

    def apply(self, routes: list[Route]) -> None:
        validate_routes(routes)
        self.applied.append(list(routes))
        for route in routes:
            self.events.add("route", route.app, tuple(route.upstreams))

    def update(self, changed: list[Route], removed: list[str]) -> None:
        table = {r.app: r for r in (self.applied[-1] if self.applied else [])}
        routes, gone = validate_update(table, changed, removed)
        for app in gone:
            table.pop(app, None)
        table.update((r.app, r) for r in routes)
        self.updates.append((list(changed), list(removed)))
        self.applied.append(sorted(table.values(), key=lambda r: r.app))
        for route in routes:
            self.events.add("route", route.app, tuple(route.upstreams))

    def set_certificates(self, certificates: list[Certificate]) -> None:
        self.certificates = list(certificates)

    def on_wake(self, callback: Callable[[str], None]) -> None:
        self.wake = callback

    def stop(self) -> None:
        self.running = False

    def status(self) -> RouterStatus:
        return RouterStatus(running=self.running, address="127.0.0.1:8080", detail="fake router")

    def served(self) -> dict[str, list[str]]:
        """The last applied table, as `{app: upstreams}`."""
        return {r.app: list(r.upstreams) for r in (self.applied[-1] if self.applied else [])}


class FakeHealth:
    """The fake instances' side of the health checks: an `httpx.MockTransport` handler that
    answers 200 for a healthy instance and refuses the connection otherwise, so the control
    layer's real `Prober` runs unpatched. `by_app` overrides an app's answer with a function
    (returns healthy or not; may block or raise, as a misbehaving check would)."""

    def __init__(self, runtime: FakeRuntime) -> None:
        self.runtime = runtime
        self.by_app: dict[str, Callable[[], bool]] = {}

    def prober(self) -> Prober:
        return Prober(probe_client(httpx.MockTransport(self.handle)))

    def handle(self, request: httpx.Request) -> httpx.Response:
        address = request.url.host
        instance = next((i for i in self.runtime.list_instances() if i.address == address), None)
        if instance is None:
            raise httpx.ConnectError("no such instance", request=request)
        behaviour = self.by_app.get(instance.app)
        healthy = behaviour() if behaviour is not None else self.runtime.healthy(instance)
        if not healthy:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, text="ok")


# -- database ---------------------------------------------------------------------------


def scrypt_hash(password: str) -> str:
    """A password hash as xae wrote it before argon2id (scrypt, n=2^14, r=8, p=1)."""
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


_templates: dict[int, Path] = {}


def make_db_template(factory: pytest.TempPathFactory) -> Path:
    """Migrate a database once per test run, with users `alice`, `bob` and `root` (admin), all
    with password `PASSWORD`; each test copies the file (migrating and hashing are slow)."""
    if id(factory) in _templates:
        return _templates[id(factory)]
    path = factory.mktemp("db-template") / "template.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    with db.session() as session:
        for name in ("alice", "bob"):
            user = create_user(session, name, PASSWORD)
            team = Team(name=name)
            session.add(team)
            session.flush()
            session.add(Membership(team_id=team.id, user_id=user.id, role=Role.OWNER))
        create_user(session, "root", PASSWORD, is_admin=True)
    db.engine.dispose()
    _templates[id(factory)] = path
    return path


def copy_db(template: Path, directory: Path) -> Database:
    path = directory / "xae.db"
    shutil.copyfile(template, path)
    return Database(f"sqlite:///{path}")


def make_settings(state_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "state_dir": state_dir,
        "base_domain": "localhost",
        "router_port": 8080,
        "drain_seconds": 7.5,
        "default_memory": "512M",
        "default_cpus": 1.0,
        "health_path": "/",
        "health_attempts": 3,
        "health_interval": 0.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type, call-arg]


@dataclass
class World:
    """A `Platform` on fakes, with direct access to the fakes and the users."""

    platform: Platform
    runtime: FakeRuntime
    router: FakeRouter
    events: EventLog
    health: FakeHealth

    @property
    def db(self) -> Database:
        return self.platform.db

    def token(self, name: str = "alice") -> str:
        """A fresh bearer token for user `name`."""
        with self.db.session() as session:
            user = session.scalars(select(User).where(User.name == name)).one()
            return issue_token(session, user, timedelta(days=1)).token

    def user(self, name: str = "alice") -> Principal:
        """User `name` as the API sees them through an admin-scoped token."""
        with self.db.session() as session:
            user = session.scalars(select(User).where(User.name == name)).one()
            roles = {
                m.team_id: m.role
                for m in session.scalars(select(Membership).where(Membership.user_id == user.id))
            }
            return Principal(user.id, user.name, user.is_admin, roles=roles, token_name="test")


def make_platform(
    settings: Settings, db: Database, runtime: FakeRuntime, router: FakeRouter, health: FakeHealth
) -> Platform:
    """A `Platform` on the fakes; its Docker connection is made only if a test builds. Cron
    runs run in the thread that starts them, so a test sees them end before it goes on."""
    platform = Platform(
        settings,
        db,
        runtime,
        router,
        prober=health.prober(),
        docker=DockerConnection(settings.docker_url),
        vault=Vault.at(key_file(settings.state_dir), create=True),
    )
    platform.start_cron_run = run_here(platform)
    platform.cron_runner = ScheduledCronRunner(platform, start=platform.start_cron_run)
    return platform


def make_world(template: Path, tmp_path: Path) -> World:
    events = EventLog()
    runtime = FakeRuntime(events)
    router = FakeRouter(events)
    health = FakeHealth(runtime)
    db = copy_db(template, tmp_path)
    settings = make_settings(tmp_path / "state")
    settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    platform = make_platform(settings, db, runtime, router, health)
    return World(platform=platform, runtime=runtime, router=router, events=events, health=health)


def add_build(
    p: Platform,
    name: str,
    image: str,
    processes: dict[str, str] | None = None,
    port: int | None = None,
) -> int:
    """Record a succeeded build of `name` (what the builder would leave), without Docker."""
    with p.db.session() as session:
        app = session.scalars(select(App).where(App.name == name)).one()
        build = Build(
            app_id=app.id,
            image=image,
            processes=dict(processes or PROCESSES),
            port=port,
            status="succeeded",
        )
        session.add(build)
        session.flush()
        ensure_formation(session, app, build.processes)
        return build.id


def deploy(
    p: Platform,
    name: str,
    image: str,
    processes: dict[str, str] | None = None,
    port: int | None = None,
) -> int:
    """Deploy a fake build of `name` as its next release (as the deploy pipeline does);
    returns the release's version."""
    build_id = add_build(p, name, image, processes, port)
    with p.change(name):
        with p.db.session() as session:
            app = session.scalars(select(App).where(App.name == name)).one()
            release = new_release(
                session,
                app,
                build_id=build_id,
                config_of=app,
                description=f"Deploy {image}",
                actor="alice",
            )
            release_id, version = release.id, release.version
        rollout(p, name, release_id, "alice")
    return version

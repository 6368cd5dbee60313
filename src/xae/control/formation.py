"""Formation: how many instances of each process type run, and with which limits.

Every change is checked against the app's ceilings (`xae.control.limits`) and made under the
app's lock, so two concurrent scales cannot together pass a ceiling each passes alone."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from xae.auth.policy import Principal
from xae.control.apps import get_app
from xae.control.audit import SYSTEM, record
from xae.control.limits import check_cpus, check_instances, check_memory
from xae.control.platform import Platform
from xae.domain.procfile import RELEASE_PHASE, scaled_processes
from xae.domain.splits import extra_web_sets
from xae.errors import InvalidInput
from xae.store.models import App, Build, Formation


@dataclass(frozen=True)
class FormationChange:
    process_type: str
    quantity: int | None = None
    memory: str | None = None
    cpus: float | None = None
    read_only: bool | None = None


def process_types(session: Session, app: App) -> dict[str, str]:
    """The app's process types and commands, from its current release's build."""
    release = app.current_release
    if release is None or release.build_id is None:
        return {}
    build = session.get(Build, release.build_id)
    return scaled_processes(build.processes) if build else {}


def ensure_formation(session: Session, app: App, processes: dict[str, str]) -> None:
    """Give new process types a formation row: one `web`, zero of anything else (the
    release phase, `release`, is no process type: it runs once per deploy)."""
    existing = {
        f.process_type for f in session.scalars(select(Formation).where(Formation.app_id == app.id))
    }
    for ptype in scaled_processes(processes):
        if ptype not in existing:
            session.add(
                Formation(app_id=app.id, process_type=ptype, quantity=1 if ptype == "web" else 0)
            )


def formations(session: Session, app: App) -> list[Formation]:
    return list(
        session.scalars(
            select(Formation).where(Formation.app_id == app.id).order_by(Formation.process_type)
        )
    )


def change(
    p: Platform,
    user: Principal,
    name: str,
    changes: list[FormationChange],
    *,
    app_id: int | None = None,
) -> None:
    if not changes:
        raise InvalidInput("nothing to change: use e.g. `xae ps:scale web=2`")
    with p.change(name):
        with p.db.session() as session:
            app = get_app(session, name, app_id)
            known = process_types(session, app)
            if not known:
                raise InvalidInput(
                    f"{name} has not been deployed yet: run `xae deploy --app {name}`"
                )
            rows = {f.process_type: f for f in formations(session, app)}
            for c in changes:
                if c.process_type == RELEASE_PHASE:
                    raise InvalidInput(
                        "`release` is the release phase's command: it runs once per deploy, "
                        "before the rollout, and is not scaled (see docs/release-phase.md)"
                    )
                if c.process_type not in known:
                    raise InvalidInput(
                        f"{name} has no process type {c.process_type[:40]!r}; its types are "
                        f"{', '.join(sorted(known))} (from its Procfile)"
                    )
                if c.quantity is not None and c.quantity < 0:
                    raise InvalidInput(f"quantity {c.quantity} is not valid: use 0 or more")
                row = rows[c.process_type]
                if c.quantity is not None:
                    row.quantity = c.quantity
                if c.memory is not None:
                    row.memory_bytes = check_memory(p.limits, c.memory)
                if c.cpus is not None:
                    row.cpus = check_cpus(p.limits, c.cpus)
                if c.read_only is not None:
                    row.read_only = c.read_only
            quantities = {t: r.quantity for t, r in rows.items() if t in known}
            if "web" in quantities:  # a split runs the web quantity once more per other release
                quantities["web"] *= 1 + extra_web_sets(app.split)
            check_instances(p.limits, name, quantities)
            record(
                session,
                user,
                "formation.change",
                name,
                app=name,
                details={"changes": [vars(c) for c in changes]},
            )
        p.converge_held(name)


def restart(
    p: Platform, user: Principal, name: str, process_type: str | None, *, app_id: int | None = None
) -> None:
    with p.change(name):
        with p.db.session() as session:
            app = get_app(session, name, app_id)
            rows = formations(session, app)
            if process_type is not None and process_type not in {r.process_type for r in rows}:
                raise InvalidInput(f"{name} has no process type {process_type[:40]!r}")
            for row in rows:
                if process_type in (None, row.process_type):
                    row.restart_generation += 1
            record(session, user, "ps.restart", name, app=name, details={"type": process_type})
        p.converge_held(name)


def wake_from_zero(p: Platform, name: str) -> bool:
    """Start one `web` instance of an app marked `scale_from_zero` that has none, because the
    router holds a request for it (`Router.on_wake`); True if it was woken.

    The router calls this once per wait; an app not marked, already running, or gone is left
    alone, so a stale or repeated call changes nothing."""
    with p.change(name):
        with p.db.session() as session:
            app = session.scalar(select(App).where(App.name == name))
            if app is None or not app.scale_from_zero:
                return False
            web = session.scalar(
                select(Formation).where(Formation.app_id == app.id, Formation.process_type == "web")
            )
            if web is None or web.quantity > 0:
                return False
            web.quantity = 1
            record(session, SYSTEM, "app.wake", name, app=name, details={"web": 1})
        p.converge_held(name)
    return True
